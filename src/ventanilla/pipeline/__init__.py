"""The inbound pipeline, a file per step of a message's path: intake (store first; journal and quarantine),
lanes (one conversation at a time, fair across branches), context (what the bot needs), limits (what a customer
may cost), decisions (applied in one transaction), recovery (resume, sweep, replay). `flow` puts them in order."""

from ventanilla.pipeline.flow import ARRIVALS_CHANNEL, InboundPipeline, PipelinePolicy
from ventanilla.pipeline.intake import Arrival, Outcome

__all__ = ["ARRIVALS_CHANNEL", "Arrival", "InboundPipeline", "Outcome", "PipelinePolicy"]
