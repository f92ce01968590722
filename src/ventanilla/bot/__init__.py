"""The bot's brain: decides the reply to one inbound message, and whether a person must take over.

It never writes: the pipeline stores the decision (reply, handoff, tool-call audit) in one transaction.
"""

from __future__ import annotations

from ventanilla.bot.decision import BotDecision, BotRequest, ToolCallRecord, Turn
from ventanilla.bot.engine import Bot

__all__ = ["Bot", "BotDecision", "BotRequest", "ToolCallRecord", "Turn"]
