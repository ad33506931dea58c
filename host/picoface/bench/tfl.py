"""A tf.lite.Interpreter factory (TensorFlow imported lazily, its deprecation warning muted)."""

import warnings


def interpreter(path, num_threads=1, all_ops=False):
    """tf.lite.Interpreter for ``path`` (a file, or the model's bytes); ``all_ops`` turns the default
    (XNNPACK) delegate off so every op stays visible (MAC counting)."""
    import tensorflow as tf

    src = {"model_content": bytes(path)} if isinstance(path, (bytes, bytearray)) else {"model_path": str(path)}
    kw = dict(src, num_threads=num_threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if all_ops:
            try:
                kw["experimental_op_resolver_type"] = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                return tf.lite.Interpreter(**kw)
            except (AttributeError, TypeError, ValueError):
                kw.pop("experimental_op_resolver_type", None)
        return tf.lite.Interpreter(**kw)
