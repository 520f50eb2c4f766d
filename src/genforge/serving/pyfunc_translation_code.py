"""The served translation model as code (MLflow models-from-code), so no pickle is written
or read: `log_translator_model` passes this file's path as `python_model`; at load time
MLflow executes it and takes the object given to `set_model`, whose state comes from
`load_context` (the checkpoint artifact, `model_config`). See pyfunc_code.py.
"""

import mlflow

from genforge.serving.pyfunc_translation import ImageTranslator

mlflow.models.set_model(ImageTranslator())
