"""Command-line entry point: a table of subcommands, each a small module.

Each module in ``picoface.commands`` exposes ``add_arguments(parser)`` and ``run(args)``.
Modules are imported only when their command runs, so ``picoface monitor`` starts without
importing TensorFlow. Only ``main()`` catches ``PicofaceError``.
"""

import argparse
import importlib
import os
import sys

from picoface import __version__
from picoface.errors import PicofaceError

# name -> (module, one-line help)
COMMANDS = {
    "data": ("picoface.commands.data", "check, summarise or draw a face dataset"),
    "train": ("picoface.commands.train", "train a detector from a YAML experiment config"),
    "eval": ("picoface.commands.eval", "AP, PR curve and recall by face size of a model"),
    "bench": ("picoface.commands.bench", "side-by-side table of picoface and other face detectors"),
    "recog": ("picoface.commands.recog", "face recognition on LFW: verification, open-set identification, bench"),
    "export": ("picoface.commands.export", "export a trained model to TFLite (int8 or float); "
                                           "for the K210: picoface kmodel convert"),
    "kmodel": ("picoface.commands.kmodel", "inspect, run, verify and package K210 kmodels"),
    "study": ("picoface.commands.study", "variants of one model (number formats, pruning, width, input, a search) "
                                         "scored like bench: table, JSON, Pareto plot"),
    "gate": ("picoface.commands.gate", "the always-on face / no-face gate: simulate mode gate against mode detect, "
                                       "re-export a trained gate"),
    "sim": ("picoface.commands.sim", "run the device app on a simulated board"),
    "monitor": ("picoface.commands.monitor", "watch the detections a board streams over serial"),
    "gallery": ("picoface.commands.gallery", "list, remove, rename, pull or push the faces enrolled on a running "
                                             "board"),
    "enrol": ("picoface.commands.enrol", "enrol the face in front of a running board (mode recognise) under a name"),
    "cmd": ("picoface.commands.cmd", "send a command to a running board (ping, hello, get, set) and print its answer"),
    "flash": ("picoface.commands.flash", "flash firmware, model and app to a board"),
    "demo": ("picoface.commands.demo", "simulated board + monitor on a built-in scene"),
    "boards": ("picoface.commands.boards", "list boards and show a board's facts"),
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="picoface",
        description="Always-on face detection for microcontroller cameras: train, shrink, convert, flash, watch.")
    parser.add_argument("--version", action="version", version="picoface " + __version__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module)
        # Arguments are added lazily (see main) so that --help of one command is cheap.
    return parser


def quiet_tensorflow():
    """Mute TensorFlow's and LiteRT's start-up noise before any command imports them: C++
    INFO/WARNING lines (also those printed before absl's logging starts, ``picoface.quiet``),
    absl Python warnings, and the TFLite converter's warning about input statistics (full-integer
    export computes them from the representative images). An explicit TF_CPP_MIN_LOG_LEVEL in the
    environment wins (0 shows everything)."""
    import warnings

    from picoface.quiet import hidden_level, quiet_imports

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if hidden_level() <= 0:
        return
    quiet_imports(("tensorflow",))
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected", category=UserWarning,
                            module=r"tensorflow\.lite\.python\.convert")
    try:
        import absl.logging
    except ImportError:  # absl comes with TensorFlow: without it there is nothing to mute
        return
    absl.logging.set_verbosity(absl.logging.ERROR)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_tensorflow()
    parser = build_parser()
    debug = "--debug" in argv
    try:
        # The command is the first argument naming one; only its module is imported, and its
        # arguments are added before parsing so that `picoface CMD --help` shows them.
        name = next((a for a in argv if not a.startswith("-")), None)
        if name not in COMMANDS:
            parser.parse_args(argv)  # --help / --version / error for an unknown command
            parser.print_help()
            return 2
        mod = importlib.import_module(COMMANDS[name][0])
        sub_action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        mod.add_arguments(sub_action.choices[name])
        args, extra = parser.parse_known_args(argv)
        if extra and isinstance(getattr(args, "overrides", None), list) and \
                all("=" in a and not a.startswith("-") for a in extra):
            args.overrides += extra  # key=value after a flag (argparse ends a '*' positional at the first flag)
        elif extra and getattr(args, "_late_words", None) and not any(a.startswith("-") for a in extra):
            # words after the flags belong to the '*' positional the command names (gallery push --port P FILE)
            setattr(args, args._late_words, list(getattr(args, args._late_words) or []) + extra)
        elif extra:
            parser.error("unrecognized arguments: %s" % " ".join(extra))
        rc = mod.run(args)
        return int(rc or 0)
    except PicofaceError as e:
        if debug:
            import traceback

            traceback.print_exc()
        print("picoface: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("picoface: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
