"""The served model as code (MLflow models-from-code), so no pickle is written or read.

`log_sampler_model` passes this file's path as `python_model`; MLflow copies it into
the model and, at load time, executes it and takes the object given to `set_model`.
The sampler's state comes from `load_context`: the checkpoint artifact (read with
`torch.load(weights_only=True)`) and `model_config` (`max_n`).
https://mlflow.org/docs/latest/ml/model/models-from-code/
"""

import mlflow

from genforge.serving.pyfunc_model import ImageSampler

mlflow.models.set_model(ImageSampler())
