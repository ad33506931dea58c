"""The one place picoface makes a TFLite interpreter (inference only).

TFLite models run through LiteRT (``ai-edge-litert``, the successor of ``tf.lite.Interpreter``,
which TensorFlow 2.21 deprecates); TensorFlow stays for training and conversion. Imported lazily,
so commands that never run a model do not load the runtime.
"""


def interpreter(model, num_threads=1, all_ops=False):
    """An interpreter for ``model`` (a .tflite path, or the model's bytes), its tensors allocated.
    ``num_threads=None``: the runtime's default. ``all_ops`` turns the default (XNNPACK) delegate off,
    so every op of the model stays visible (MAC counting). Raises ValueError/RuntimeError for a model
    LiteRT rejects, PicofaceError when LiteRT is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as e:
        from picoface.errors import PicofaceError

        raise PicofaceError("LiteRT (ai-edge-litert) is not installed: it runs TFLite models",
                            "run `make setup` (or .venv/bin/pip install -r requirements.txt)") from e

    if isinstance(model, (bytes, bytearray, memoryview)):
        kw = {"model_content": bytes(model)}
    else:
        kw = {"model_path": str(model)}
    if all_ops:
        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    from picoface.quiet import native_stderr

    with native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." (TF_CPP_MIN_LOG_LEVEL >= 1)
        it = Interpreter(num_threads=None if num_threads is None else int(num_threads), **kw)
        it.allocate_tensors()
    return it
