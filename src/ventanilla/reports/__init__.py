"""Reports for branch managers: how many customers wrote, how much the bot solved, how fast the team answered.

Every figure is computed in SQL over the period asked for; see docs/reports.md for the exact definitions.
"""
