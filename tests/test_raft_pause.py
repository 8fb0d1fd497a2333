"""A member that was paused catches up on the ticks it missed."""

from __future__ import annotations

from raftkv.sim import run_scenario, scenario_from_token

# Found by the lease-read suite: the leader is paused for 1.5 s while the others elect a
# new leader (3 members, lease reads, seed 484; found with CheckQuorum off, which lease
# reads now require); when it resumes, its tick count must show the time that passed, or
# it believes its lease is still valid and serves stale reads.
PAUSED_LEADER = scenario_from_token(
    "rk1_eNrNks1uhSAQhd9l1iyuP9xaV32PG0OIzG2NCIaftsb47h2st5FNu60bZIZzzseEFXodfUAH7QqT_BS9tv0olBvuQc"
    "zzBG11SR8Dh1IJa_QCLWiUHmFjoKKTYbBGRA8tvxxH7zLqQIXbCjLsreLRGgejyGBPAQbGKqTtCxkqYtjYf1cUVcNLzu"
    "DV2TinK97AlNAxWoqkrKDrfvxm6cKQxpNZXJ-KkvPToUiz_DW0OUIPxRtKnfWf62tTlDlUdYIq_4SqihzKoY_TmWqnVJ"
    "mkPlIzKspx8h7Gd-F7NNINlvgYeCRxWzd1-g1B47fFY_5-oSc4pVzSUuqHdaO2UqVHOeLidw87izBMaGM4iVPZixmdoF"
    "LNt-0LgB3eHA")


def test_paused_leader_does_not_serve_lease_reads_after_resume() -> None:
    result = run_scenario(PAUSED_LEADER)
    assert result.ok, result.summary()
    ops = sum(1 for r in result.system.history() if getattr(r, "type", "") == "ok")
    assert ops > 50  # the clients really did read and write throughout


def test_paused_leader_steps_down_when_it_resumes() -> None:
    result = run_scenario(PAUSED_LEADER)
    roles = [e for e in result.trace.events if e.kind == "raft.role" and e.node == "n3"]
    after = [e for e in roles if e.time_us >= 3_171_255]
    assert after and after[0].fields["role"] != "leader"
