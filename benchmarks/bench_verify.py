"""Verification overhead of mfakit against the bare primitives it builds on.

Run from the repository root::

    python benchmarks/bench_verify.py          # full run (about 35 s)
    python benchmarks/bench_verify.py --quick  # smoke run (about 15 s)

Each benchmark runs the candidate (mfakit) and its baseline (pyotp or
argon2-cffi alone) in the same process, in interleaved rounds (candidate then
baseline, then baseline then candidate, and so on), and compares the medians
of the per-round timings. This is a report, not a test: it always exits 0.

1. ``MFA.verify_totp`` on a ``MemoryStore`` against
   ``pyotp.TOTP(secret).verify(code, for_time=t, valid_window=1)``.
2. ``MFA.verify_backup_code`` (default ``Argon2Hasher``), with 10 codes left
   and with 1 code left, against one ``argon2.PasswordHasher().verify``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from time import perf_counter_ns

import argon2
import pyotp

import mfakit
from mfakit import MFA, Actor, Argon2Hasher, TotpSetup
from mfakit.adapters import MemoryStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

SECRET_KEY = "689e35a1f304b9e9fcf9e4850154257390f37055776d7a4abd313a24624aa797"
ISSUER = "Bench"
STEP = timedelta(seconds=30)


@dataclass(frozen=True)
class Config:
    totp_rounds: int
    totp_per_round: int
    backup_rounds: int


FULL = Config(totp_rounds=51, totp_per_round=100, backup_rounds=7)
QUICK = Config(totp_rounds=11, totp_per_round=50, backup_rounds=3)


@dataclass(frozen=True)
class Outcome:
    name: str
    unit: str
    scale: float  # ns per unit
    candidate: list[float]  # per-round timings, ns
    baseline: list[float]
    target: float

    @property
    def candidate_median(self) -> float:
        return statistics.median(self.candidate)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def ratio(self) -> float:
        return self.candidate_median / self.baseline_median


class BenchmarkError(RuntimeError):
    """A verification that should have succeeded did not: the figures would be meaningless."""


def _interleave(
    rounds: int,
    prepare: Callable[[int], object],
    candidate: Callable[[object], float],
    baseline: Callable[[object], float],
) -> tuple[list[float], list[float]]:
    """Run ``rounds`` rounds; each prepares its inputs (untimed), then times the
    candidate and the baseline, in an order that flips every round."""
    cand: list[float] = []
    base: list[float] = []
    for r in range(rounds):
        state = prepare(r)
        if r % 2 == 0:
            cand.append(candidate(state))
            base.append(baseline(state))
        else:
            base.append(baseline(state))
            cand.append(candidate(state))
    return cand, base


def _enrol(mfa: MFA, clock: FakeClock, user_id: str) -> tuple[TotpSetup, tuple[str, ...]]:
    """Give ``user_id`` a confirmed authenticator app; returns the setup and backup codes."""
    actor = Actor.user(user_id, reauthenticated_at=clock.now())
    setup = mfa.begin_totp_setup(actor, user_id, account_name=f"{user_id}@bench.example")
    confirmation = mfa.confirm_totp_setup(
        actor, setup.id, authenticator_code(setup.uri, clock.now())
    )
    if not confirmation.ok or confirmation.backup_codes is None:
        raise BenchmarkError(f"enrolment of {user_id} failed: {confirmation}")
    return setup, confirmation.backup_codes.codes


# --- 1. TOTP ---------------------------------------------------------------


@dataclass
class TotpRound:
    user_id: str
    secret: str
    codes: list[str]  # codes[i] is valid at clock start + (i + 1) * 30 s
    timestamps: list[float]  # the same instants, for pyotp's for_time


def bench_totp(cfg: Config) -> Outcome:
    clock = FakeClock()
    mfa = MFA(
        store=MemoryStore(),
        secret_key=SECRET_KEY,
        issuer=ISSUER,
        clock=clock,
        hasher=fast_hasher(),  # only used to hash backup codes at enrolment
    )
    n = cfg.totp_per_round
    user_numbers = itertools.count()

    def prepare(_round: int) -> TotpRound:
        # A fresh user per round, and one new time step per verification, so
        # no code is ever a replay (mfakit would refuse it).
        user_id = f"totp-user-{next(user_numbers)}"
        setup, _ = _enrol(mfa, clock, user_id)
        start = clock.now()
        instants = [start + STEP * (i + 1) for i in range(n)]
        return TotpRound(
            user_id=user_id,
            secret=setup.secret,
            codes=[authenticator_code(setup.uri, t) for t in instants],
            timestamps=[t.timestamp() for t in instants],
        )

    def candidate(state: object) -> float:
        assert isinstance(state, TotpRound)
        verify = mfa.verify_totp
        advance = clock.advance
        user_id = state.user_id
        total = 0
        failures = 0
        gc.disable()
        try:
            for code in state.codes:
                advance(STEP)  # untimed
                t0 = perf_counter_ns()
                result = verify(user_id, code)
                total += perf_counter_ns() - t0
                failures += not result.ok
        finally:
            gc.enable()
        if failures:
            raise BenchmarkError(f"MFA.verify_totp refused {failures} valid codes")
        return total / len(state.codes)

    def baseline(state: object) -> float:
        assert isinstance(state, TotpRound)
        secret = state.secret
        totp = pyotp.TOTP
        total = 0
        failures = 0
        gc.disable()
        try:
            for code, ts in zip(state.codes, state.timestamps, strict=True):
                t0 = perf_counter_ns()
                ok = totp(secret).verify(code, for_time=ts, valid_window=1)
                total += perf_counter_ns() - t0
                failures += not ok
        finally:
            gc.enable()
        if failures:
            raise BenchmarkError(f"pyotp refused {failures} valid codes")
        return total / len(state.codes)

    # Warm-up (untimed figures discarded): imports, caches, the HKDF subkey.
    _interleave(1, prepare, candidate, baseline)
    cand, base = _interleave(cfg.totp_rounds, prepare, candidate, baseline)
    return Outcome("verify_totp", "us", 1e3, cand, base, target=2.0)


# --- 2. Backup codes ---------------------------------------------------------


@dataclass
class BackupRound:
    user_id: str
    code: str  # the code the candidate verifies, as shown to the user
    left_after: int  # backup_codes_left expected after it
    baseline_hash: str  # argon2-cffi hash of the same code, default parameters
    baseline_code: str


def bench_backup(cfg: Config) -> tuple[Outcome, Outcome, str]:
    clock = FakeClock()
    store = MemoryStore()
    mfa = MFA(store=store, secret_key=SECRET_KEY, issuer=ISSUER, clock=clock, hasher=Argon2Hasher())
    ph = argon2.PasswordHasher()

    def make_round(user_id: str, codes_left: int) -> BackupRound:
        clock.advance(STEP)
        _, codes = _enrol(mfa, clock, user_id)
        for used in codes[: len(codes) - codes_left]:  # untimed
            clock.advance(STEP)
            if not mfa.verify_backup_code(user_id, used).ok:
                raise BenchmarkError("a backup code was refused while preparing")
        if mfa.backup_codes_left(user_id) != codes_left:
            raise BenchmarkError(f"{user_id} should have {codes_left} codes left")
        code = codes[-1]
        canonical = code.replace("-", "")  # mfakit hashes the canonical form
        return BackupRound(user_id, code, codes_left - 1, ph.hash(canonical), canonical)

    def candidate(state: object) -> float:
        assert isinstance(state, BackupRound)
        clock.advance(STEP)
        gc.disable()
        try:
            t0 = perf_counter_ns()
            result = mfa.verify_backup_code(state.user_id, state.code)
            elapsed = perf_counter_ns() - t0
        finally:
            gc.enable()
        if not result.ok or result.backup_codes_left != state.left_after:
            raise BenchmarkError(f"MFA.verify_backup_code: unexpected {result}")
        return float(elapsed)

    def baseline(state: object) -> float:
        assert isinstance(state, BackupRound)
        gc.disable()
        try:
            t0 = perf_counter_ns()
            ok = ph.verify(state.baseline_hash, state.baseline_code)
            elapsed = perf_counter_ns() - t0
        finally:
            gc.enable()
        if not ok:
            raise BenchmarkError("argon2 refused its own hash")
        return float(elapsed)

    outcomes = []
    for left in (10, 1):
        prefix = f"backup-{left}-left"
        rounds = [make_round(f"{prefix}-{r}", left) for r in range(cfg.backup_rounds)]
        cand, base = _interleave(cfg.backup_rounds, rounds.__getitem__, candidate, baseline)
        outcomes.append(Outcome(f"verify_backup_code ({left} left)", "ms", 1e6, cand, base, 1.3))

    # Check that both sides hash with the same argon2 parameters.
    user_id = "backup-params"
    clock.advance(STEP)
    _, codes = _enrol(mfa, clock, user_id)
    record = store.get_backup_code(user_id, codes[0].replace("-", "")[:2])
    if record is None:
        raise BenchmarkError("no stored backup code to inspect")
    mine = argon2.extract_parameters(record.hash)
    theirs = argon2.extract_parameters(ph.hash("x"))
    same = "same" if mine == theirs else "DIFFERENT"
    params = (
        f"argon2 parameters ({same}): mfakit t={mine.time_cost} m={mine.memory_cost} "
        f"p={mine.parallelism} {mine.type.name}; baseline t={theirs.time_cost} "
        f"m={theirs.memory_cost} p={theirs.parallelism} {theirs.type.name}"
    )
    return outcomes[0], outcomes[1], params


# --- report ----------------------------------------------------------------


def _fmt(ns: float, outcome: Outcome) -> str:
    return f"{ns / outcome.scale:,.2f} {outcome.unit}"


def print_table(outcomes: list[Outcome]) -> None:
    header = ("benchmark", "mfakit", "baseline", "ratio", "target", "result")
    rows = [
        (
            o.name,
            _fmt(o.candidate_median, o),
            _fmt(o.baseline_median, o),
            f"{o.ratio:.2f}x",
            f"<= {o.target:.1f}x",
            "PASS" if o.ratio <= o.target else "MISS",
        )
        for o in outcomes
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    aligns = ["<", ">", ">", ">", ">", "<"]

    def line(row: tuple[str, ...]) -> str:
        cells = zip(row, aligns, widths, strict=True)
        return "  ".join(f"{c:{a}{w}}" for c, a, w in cells).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL

    print(
        f"mfakit {mfakit.__version__} verification benchmarks ({'quick' if args.quick else 'full'})"
    )
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}) "
        f"on {platform.machine()}, {platform.system()}; "
        f"pyotp {version('pyotp')}, argon2-cffi {version('argon2-cffi')}"
    )
    print(
        f"TOTP: {cfg.totp_rounds} rounds x {cfg.totp_per_round} verifications "
        f"(per-round figure: mean per verification); backup codes: {cfg.backup_rounds} rounds "
        "x 1 verification per case"
    )
    print(flush=True)

    try:
        totp = bench_totp(cfg)
        ten, one, params = bench_backup(cfg)
    except BenchmarkError as exc:
        print(f"BENCHMARK INVALID: {exc}")
        return 0
    outcomes = [totp, ten, one]

    print_table(outcomes)
    print()
    print(params)
    for o in outcomes:
        ratios = sorted(c / b for c, b in zip(o.candidate, o.baseline, strict=True))
        print(
            f"{o.name}: per-round ratios min {ratios[0]:.2f}x / "
            f"median {statistics.median(ratios):.2f}x / max {ratios[-1]:.2f}x"
        )
    print()
    print(
        "Figures are medians of per-round timings from interleaved rounds (candidate and "
        "baseline alternate, order flipped each round, gc disabled while timing); "
        "ratio = mfakit median / baseline median."
    )
    missed = [o.name for o in outcomes if o.ratio > o.target]
    print("All targets met." if not missed else f"Targets missed: {', '.join(missed)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
