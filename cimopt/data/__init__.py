"""Bundled data: the model zoo (`models/`) and hardware presets (`hardware/`), read with importlib.resources."""
