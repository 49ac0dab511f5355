"""``python -m toloka_provider.emulator``: run the Toloka emulator until SIGTERM or SIGINT.

Prints exactly one line, ``TOLOKA_EMULATOR_URL=http://HOST:PORT``, to stdout once it serves, and exits 0 on
SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation

from toloka_provider.emulator.faults import parse_fault_spec


def _accuracy(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(":")
    try:
        values = (float(low), float(high)) if sep else (float(low), float(low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO:HI (e.g. 0.55:0.95), got {text!r}") from None
    if not 0 <= values[0] <= values[1] <= 1:
        raise argparse.ArgumentTypeError(f"expected 0 <= LO <= HI <= 1, got {text!r}")
    return values


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected an amount in USD, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an amount >= 0, got {text!r}")
    return value


def _faults(text: str) -> str:
    try:
        parse_fault_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m toloka_provider.emulator",
        description=(
            "Run a local Toloka-compatible API server with a simulated crowd. Prints "
            "TOLOKA_EMULATOR_URL=http://HOST:PORT on start; stops on SIGTERM or SIGINT. Control endpoints "
            "(no auth): /_emulator/health, /_emulator/faults, /_emulator/crowd/pause|resume, "
            "/_emulator/clock/advance, /_emulator/bulk-load, /_emulator/counters."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free port (default: 0)")
    parser.add_argument(
        "--token",
        action="append",
        dest="tokens",
        metavar="T",
        help="accepted token, sent as 'Authorization: ApiKey T' or 'OAuth T'; repeat for several "
        "(default: emulator-token)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the crowd and the fault draws (default: 0)")
    parser.add_argument("--crowd", type=int, default=30, help="number of simulated workers (default: 30)")
    parser.add_argument(
        "--accuracy", type=_accuracy, default=(0.55, 0.95), metavar="LO:HI",
        help="range the workers' accuracies are drawn from (default: 0.55:0.95)",
    )
    parser.add_argument(
        "--spammers", type=_fraction, default=0.1, metavar="FRACTION",
        help="fraction of workers who answer at random (default: 0.1)",
    )
    parser.add_argument(
        "--speed", type=_positive, default=200.0, metavar="ASSIGNMENTS_PER_SECOND",
        help="how many assignments the whole crowd starts per second (default: 200)",
    )
    parser.add_argument(
        "--truth", metavar="FILE",
        help="CSV or JSONL file mapping input values to correct output values; without it a deterministic "
        "pseudo-truth is used",
    )
    parser.add_argument("--balance", type=_money, default=Decimal("1000"), metavar="USD", help="starting requester balance (default: 1000)")
    parser.add_argument(
        "--faults", type=_faults, metavar="SPEC",
        help="fault rates per request, e.g. '500=0.1,502=0.05,503=0.05,429=0.05,429quota=0.01,drop=0.02,lost=0.01'",
    )
    parser.add_argument("--latency", type=_non_negative, default=0.0, metavar="MS", help="latency added to every API request (default: 0)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    from toloka_provider.emulator.server import TolokaEmulator

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    emulator = TolokaEmulator(
        tokens=tuple(args.tokens or ("emulator-token",)),
        seed=args.seed,
        crowd=args.crowd,
        accuracy=args.accuracy,
        spammers=args.spammers,
        speed=args.speed,
        truth=args.truth,
        balance=args.balance,
        faults=args.faults,
        latency_ms=args.latency,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
    )
    emulator.start()
    try:
        sys.stdout.write(f"TOLOKA_EMULATOR_URL={emulator.url}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
