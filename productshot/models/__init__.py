"""The model library: presets and plugins (registry), generator backends, weights, devices, fitting, and
the one generation runner that the worker, the in-process path and the model comparison share."""
