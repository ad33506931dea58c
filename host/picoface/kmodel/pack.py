"""``kmodel pack``: a .kfpkg for kflash with a kmodel v3 at the board's flash address, after the
board budget and firmware-limit checks (wired by picoface.commands.kmodel)."""

from pathlib import Path

from picoface.errors import PicofaceError


def add_arguments_pack(p):
    p.add_argument("kmodel", help="kmodel v3 file")
    p.add_argument("--board", default="maix_dock")
    p.add_argument("--firmware", help="firmware .bin to put at 0x0 as well")
    p.add_argument("-o", "--out", required=True, help="output .kfpkg")
    p.add_argument("--no-check", action="store_true",
                   help="skip the board budget and firmware-limit checks (the kmodel v3 format is always checked: "
                        "header and every layer)")


def run_pack(args):
    from picoface import kmodel as km
    from picoface.contract import contract_for
    from picoface.kmodel import budget, kfpkg, v3

    data = km.read_file(args.kmodel)
    if km.detect_version(data) != 3:
        raise PicofaceError("%s is not a kmodel v3; stock MaixPy/CanMV load only v3/v4" % args.kmodel,
                            "convert it first (picoface kmodel convert)")
    v3.parse(data)  # the format, with or without --no-check: a truncated or corrupt file is refused
    if not args.no_check:
        contract = contract_for(Path(args.kmodel))
        budget.check(data, args.board, contract)
        budget.check_firmware(data, args.board, contract, subject="kmodel %s" % Path(args.kmodel).name)
    info = kfpkg.build(args.out, data, args.board, firmware=args.firmware)
    for f in info["files"]:
        print("0x%08x  %-16s %8d B  sha256Prefix=%s" % (f["address"], f["bin"], f["bytes"], f["sha256Prefix"]))
    from picoface.boards import load_board

    fl = load_board(args.board).flash
    print("wrote %s (%d B); flash with: kflash -B %s -b %s -p PORT %s"
          % (args.out, info["bytes"], fl.get("kflash_board", "dan"), fl.get("kflash_baud", 115200), args.out))
    return 0
