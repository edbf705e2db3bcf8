"""Every choice list and default the library, the command line and the app offer, defined once.

The modules that act on a choice import it from here (and keep their old names for it), so a new rule or mode is
added in one place and every front end lists it.
"""

from __future__ import annotations

# discovery
GRANULARITIES = ("intermediate", "mlp_output")  # MLP neurons (down-projection input) or MLP output channels
ICA_ORIENTATIONS = ("neurons", "tokens")  # spatial ICA (sparse neuron maps) or temporal ICA
THRESHOLD_RULES = ("zscore", "percentile", "topk")
USUAL_THRESHOLDS = {"zscore": 3.0, "percentile": 98.0, "topk": 50}  # a sensible value for each rule
MIN_LABEL_RESPONSE = 0.1  # a category names a network only when its mean z-scored response is at least this


MATRIX_DTYPES = ("float32", "bfloat16", "auto")  # the in-memory discovery matrix; "auto": bf16 in hardware


# masking
MASK_MODES = ("lesion", "preserve", "scale", "mean")
MASK_FILLS = ("zero", "mean")  # what a silenced neuron is set to: 0, or its mean activation
EVAL_MODES = ("lesion", "preserve")  # what fnsft-eval measures against random controls

# fine-tuning
FORWARD_MASK_MODES = ("lesion", "preserve")  # networks masked by hooks during training
SELECTIVE_MODES = ("train_only", "freeze")  # only the networks' neurons updated, or exactly they frozen
NETWORK_MODES = ("none", *FORWARD_MASK_MODES, *SELECTIVE_MODES)
TRAINING_METHODS = ("lora", "full", "qlora")

# streaming discovery: Frequent Directions sketch rows, and the tokens sampled into it
# (benchmarks/streaming_accuracy.py)
SKETCH_ROWS = 200
SKETCH_TOKENS = 8192
