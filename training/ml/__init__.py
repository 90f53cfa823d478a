"""Fine-tuning and evaluation of a tenant's recommendation model: plain Python, no Django.

data -> model -> loop -> evaluate / baselines -> scorer -> artifacts; `pipeline.fine_tune`
runs them in order for a training job. The Django layer (training/services, tasks)
stores configs, metrics and version folders; nothing here knows about tenants.
"""

from .config import ConfigError, TrainConfig

__all__ = ["ConfigError", "TrainConfig"]
