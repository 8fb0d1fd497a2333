"""A member that was paused catches up on the ticks it missed."""

from __future__ import annotations

from raftkv.sim import run_scenario, scenario_from_token

# Found by the lease-read suite: the leader is paused for 1.5 s while the others elect a
# new leader (3 members, lease reads, seed 484); when it resumes, its tick count must show the time that passed, or it
# believes its lease is still valid and serves stale reads.
PAUSED_LEADER = scenario_from_token(
    "rk1_eNrNUstuhSAQ_ZdZs7i-bq2r_seNIUTGXiMC5dHWGP-9g_U2umm3ZQPM4TyYzAKdij6gg2aB7o7dyN-icXGCph"
    "fKI4NJfPJOGQKkG_rArSWsuKTFwKGQ3Gg1QwMKhUdYGcjoRBiM5tFDU132p72IKlDhtoAIG5Q9oHHQkgQ2F2CgjUS6"
    "vpCgpGAr---MrKirvGLw6ky06Ys30Dm0jLYsMQto2x89K1wYUntOEtenLK-qw6NIvfzVtN5Nd8YdhTrhz-W1zvJzqO"
    "IQKv8zVJGdQzn0cTqm2lLKE6XcXU-pyMeJPozv3HeohRsM5WPgkchNWZfpGILCb4lH__1MczklX-KS64dxozJCpkkdcfabhrE8DBOaGA7kVPbcouNUKqt1_QKdy-XX")


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
