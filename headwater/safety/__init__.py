"""Safety: ASTRAL red-teaming (`headwater.safety.astral`), guardrail moderation (`headwater.safety.guard`) and the
Virus attack used to measure how well moderation holds (`headwater.safety.virus`)."""
