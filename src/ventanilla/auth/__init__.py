"""Users, memberships, login with JWT, and the guards that express who may touch what."""
