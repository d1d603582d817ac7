"""The serving engine boundary: the Engine protocol, its transformers backend and the task-executor process."""

from headwater.engine.protocol import Engine, EngineOutput, EngineRequest, LoadReport, SamplingParams

__all__ = ["Engine", "EngineOutput", "EngineRequest", "LoadReport", "SamplingParams"]
