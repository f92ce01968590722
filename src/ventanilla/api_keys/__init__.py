"""API keys for the company's systems: `Authorization: Bearer vk_...`, scoped to points and to scopes."""
