"""cimopt: schedule neural networks on tiled RRAM computing-in-memory accelerators.

Data flows one way: model + hardware -> mapping -> sets -> schedule -> simulation -> report.
See `cimopt.api` for the pipeline a notebook calls.
"""

__version__ = "0.1.0"
