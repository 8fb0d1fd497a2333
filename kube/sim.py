"""The ``discovery`` system: service registration and discovery on a simulated cluster.

Registered in :data:`raftkv.sim.SYSTEM_BUILDERS`, so ``run_scenario``, ``raftkv sim``,
``explore`` and ``replay`` run it like any other system.  The members are the kv
system's (no workload clients); beside them run, as async components:

* instances ``i1..iN``: each incarnation registers ``/services/web/<node>-<random id>``
  under a lease of ``discovery.ttl_s`` and keeps it alive (a crash or pause stops that);
* watchers ``w1..wM``: discovery clients, each keeping a view of ``/services/``;
* ``compactor``: compacts the store every ``discovery.compact_interval_us``.

The run is live once the kv system is and the store holds exactly the running
instances' current registrations and every watcher's view equals it.  Checked after the
run (``discovery.*``):

* ``discovery.phantom``: a view showed a value no instance ever wrote;
* ``discovery.stale_after_ttl``: during the run or the settle phase, a view still
  showed an instance later than TTL + :meth:`DiscoverySystem.expiry_grace_us` after it
  stopped keeping its lease alive (its node crashed or paused; a resumed instance keeps
  the lease alive again, a restarted one registers a new key).  The clock of a view
  runs only while its watcher is up and reaches a member on the side of a leader with
  a quorum, on a network without loss; it starts again whenever that comes back, and
  whenever lease clocks may restart or a lost quorum may return (a new leader extends
  every lease; see ``raftkv.check.lease``);
* ``discovery.stale``: at the end a view still shows an instance whose key is gone
  from the store;
* ``discovery.missing``: at the end a running instance's registration is missing from
  the store or from a view;
* ``discovery.convergence``: at the end a view differs from the store otherwise;
* ``discovery.task_error``: a component task died of an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from raftkv.check import History, HistoryBuilder
from raftkv.sim import (
    SYSTEM_BUILDERS,
    Scenario,
    SimRuntime,
    TaskHost,
    Violation,
    World,
    task_errors,
)
from raftkv.sim.scenario import instance_names, watcher_names

from .discovery import (
    SERVICES_PREFIX,
    DiscoveryClient,
    Instance,
    Registration,
    compact_periodically,
)

__all__ = ["DiscoverySystem"]

SERVICE = "web"
#: The fixed part of the grace an expired instance has to leave every view: the watcher's
#: retry after an error (0.2 s), a list again after a compaction, and latency spikes
#: (the network nemesis adds up to 0.3 s) on the revoke's and the event's way.
EXPIRY_SLACK_US = 800_000
#: How often the views are compared with the stopped instances (simulated time).
EXPIRY_CHECK_INTERVAL_US = 50_000
_PREFIX = SERVICES_PREFIX.encode()
_PREFIX_END = _PREFIX[:-1] + bytes([_PREFIX[-1] + 1])


class DiscoverySystem:
    def __init__(self, scenario: Scenario, world: World) -> None:
        self.scenario = scenario
        self.world = world
        self.kv: Any = SYSTEM_BUILDERS["kv"](scenario, world)
        self.membership = self.kv.membership
        self.spec = scenario.discovery
        self.bugs = frozenset(scenario.bugs)
        self.instances = instance_names(self.spec.instances)
        self.watchers = watcher_names(self.spec.watchers)
        self.recorder: HistoryBuilder | None = None
        self.written: dict[tuple[str, bytes], int] = {}  # (key, value) -> first write's time
        self.current: dict[str, tuple[str, bytes]] = {}  # instance node -> its registration
        self.views: dict[str, DiscoveryClient] = {}  # watcher node -> its current client
        self.phantoms: list[str] = []
        self.errors: list[str] = []
        self.stopped: dict[str, int] = {}  # key -> when its instance stopped keeping it alive
        self.held_since: dict[str, int] = {}  # watcher -> since when its view is held to the bound
        self.late: list[tuple[int, str]] = []  # (time, why) a view showed a stopped instance too late
        self._late_keys: set[tuple[str, str]] = set()
        world.subscribe(self._on_trace)

    # ------------------------------------------------------------------ components
    def _client(self, rt: SimRuntime) -> Any:
        return rt.etcd_client(self.kv.client_members(), config=self.kv.client_config,
                              bugs=self.bugs, recorder=self.recorder)

    async def _instance(self, rt: SimRuntime) -> None:
        inst = Instance(service=SERVICE, id=f"{rt.node_id}-{rt.random().getrandbits(32):08x}",
                        address=f"10.0.0.{self.instances.index(rt.node_id) + 1}", port=8080,
                        metadata=(("node", rt.node_id),))
        value = inst.to_json()
        self.current[rt.node_id] = (inst.key, value)
        self.written.setdefault((inst.key, value), self.world.now_us)
        await Registration(rt, self._client(rt), inst, ttl_s=self.spec.ttl_s).run()

    async def _watcher(self, rt: SimRuntime) -> None:
        node = rt.node_id

        def changed(key: str, inst: Instance | None) -> None:
            if inst is not None and (key, inst.to_json()) not in self.written:
                self.phantoms.append(f"{node} showed {key} = {inst.to_json().decode()} at "
                                     f"{self.world.now_us} us, which no instance wrote")

        client = DiscoveryClient(rt, self._client(rt), on_change=changed, bugs=self.bugs)
        self.views[node] = client
        await client.run()

    async def _compactor(self, rt: SimRuntime) -> None:
        await compact_periodically(rt, self._client(rt), self.spec.compact_interval_us / 1e6)

    def _host(self, main: Any) -> Any:
        return lambda env: TaskHost(env, main)

    def start(self) -> None:
        self.kv.start()
        for name in self.instances:
            self.world.add_node(name, self._host(self._instance), client=True)
        for name in self.watchers:
            self.world.add_node(name, self._host(self._watcher), client=True)
        self.world.add_node("compactor", self._host(self._compactor), client=True)
        self.world.schedule(self.world.now_us + EXPIRY_CHECK_INTERVAL_US, self._check_expiry)

    # ------------------------------------------------------------------ the expiry bound
    def expiry_grace_us(self) -> int:
        """How long after its TTL (stretched by the run's clock drift) a stopped instance
        may still be shown: the leader's expiry sweep interval, the extension a new leader
        adds to every lease (an election timeout, etcd's Promote), two election timeouts
        for the revoke to commit, the session timeout after which the client reopens a
        silent watch on another member, and :data:`EXPIRY_SLACK_US`."""
        c = self.scenario.cluster
        election_us = c.election_timeout_ticks * c.tick_us
        sweep_us: int = self.kv.server_config.lease_check_interval_us
        session_us: int = self.kv.client_config.watch_session_timeout_us
        return sweep_us + 3 * election_us + session_us + EXPIRY_SLACK_US

    def _on_trace(self, ev: Any) -> None:
        node = ev.node
        if node not in self.current or ev.kind not in ("crash", "pause", "resume"):
            return
        key = self.current[node][0]
        if ev.kind == "resume":
            self.stopped.pop(key, None)  # the same incarnation keeps its lease alive again
        else:
            self.stopped.setdefault(key, ev.time_us)

    def _serving_members(self) -> frozenset[str]:
        """The running members on the side of a leader that reaches a quorum (empty: none)."""
        leader = self.kv.leader()
        if leader is None or not self._running(leader):
            return frozenset()
        cuts = self.world.network.cuts
        side = frozenset(m for m in self.kv.members
                         if m == leader or (self._running(m) and (m, leader) not in cuts
                                            and (leader, m) not in cuts))
        conf = self.kv.server(leader).configuration
        for voters in (conf.voters, conf.voters_outgoing):
            if voters and 2 * len(side & set(voters)) <= len(voters):
                return frozenset()
        return side

    def _check_expiry(self) -> None:
        now = self.world.now_us
        self.world.schedule(now + EXPIRY_CHECK_INTERVAL_US, self._check_expiry)
        side = self._serving_members() if self.world.network.loss == 0 else frozenset()
        cuts = self.world.network.cuts
        restarts = [t[-1] for t in (self.kv.lease_resets_us, self.kv.quorum_regained_us) if t]
        ttl_us = self.spec.ttl_s * 1_000_000
        drift = self.kv.clock_drift_ppm()
        budget_us = -(-ttl_us * 1_000_000 // (1_000_000 - drift)) + self.expiry_grace_us()
        for node in self.watchers:
            client = self.views.get(node)
            if client is None or not self._running(node) or not any(
                    (node, m) not in cuts and (m, node) not in cuts for m in sorted(side)):
                self.held_since.pop(node, None)
                continue
            since = self.held_since.setdefault(node, now)
            for key in sorted(self.stopped):
                start = max(self.stopped[key], since, *restarts)
                if key in client.view and now > start + budget_us and (node, key) not in self._late_keys:
                    self._late_keys.add((node, key))
                    self.late.append((now, f"{node}'s view still shows {key} at {now} us, though its instance "
                                           f"stopped keeping it alive at {self.stopped[key]} us: more than "
                                           f"TTL {self.spec.ttl_s} s + grace {self.expiry_grace_us()} us "
                                           f"after {start} us"))

    # ------------------------------------------------------------------ state
    def _running(self, node: str) -> bool:
        return self.world.is_up(node) and not self.world.is_paused(node)

    def _task_errors(self) -> list[str]:
        return task_errors(self.world, (*self.instances, *self.watchers, "compactor"))

    def _problems(self) -> list[tuple[str, str]]:
        """Why the views have not converged on the running instances: (property, why)."""
        store = self.kv.leader_kvs(_PREFIX, _PREFIX_END)
        if store is None:
            return [("discovery.convergence", "no leader to read the store from")]
        stored = {k.decode(): v for k, v in store.items()}
        out: list[tuple[str, str]] = []
        expected = {}
        for node in self.instances:
            if node in self.current and self._running(node):
                key, value = self.current[node]
                expected[key] = value
                if stored.get(key) != value:
                    out.append(("discovery.missing", f"running instance {node}'s {key} is not in the store"))
        for key in sorted(stored):
            if key not in expected:
                out.append(("discovery.stale", f"the store still holds {key}, which no running instance keeps alive"))
        for node in self.watchers:
            client = self.views.get(node)
            if client is None or not self._running(node):
                continue
            view = {k: inst.to_json() for k, inst in client.view.items()}
            for key in sorted(view):
                if key not in stored:
                    out.append(("discovery.stale", f"{node}'s view shows {key}, which is gone from the store "
                                                   f"(view at revision {client.revision})"))
                elif view[key] != stored[key]:
                    out.append(("discovery.convergence", f"{node}'s view of {key} differs from the store"))
            for key in sorted(stored):
                if key not in view:
                    out.append(("discovery.missing", f"{node}'s view lacks {key}"))
        return out

    # ------------------------------------------------------------------ System
    def leader(self) -> str | None:
        leader: str | None = self.kv.leader()
        return leader

    def quiesce(self) -> None:
        self.kv.quiesce()

    def is_live(self) -> bool:
        return bool(self.kv.is_live()) and not self._problems()

    def liveness_report(self) -> str:
        problems = "; ".join(why for _p, why in self._problems()[:4])
        return f"{self.kv.liveness_report()}; discovery: {problems or 'converged'}"

    def history(self) -> History:
        records: History = self.kv.history()  # self.kv: the kv system, typed Any (not public API)
        return records

    def check(self, properties: Sequence[str] | None = None) -> list[Violation]:
        out = [Violation(property="discovery.phantom", message=p) for p in self.phantoms[:1]]
        out += [Violation(property="discovery.task_error", message=e) for e in self._task_errors()[:1]]
        out += [Violation(property="discovery.stale_after_ttl", message=why, time_us=t) for t, why in self.late[:1]]
        seen: set[str] = set()
        for prop, why in self._problems():
            if prop not in seen:
                seen.add(prop)
                out.append(Violation(property=prop, message=why, time_us=self.world.now_us))
        if properties is not None:
            out = [v for v in out if v.property.startswith(tuple(properties))]
        return out + list(self.kv.check([p for p in properties if not p.startswith("discovery")]
                                        if properties is not None else None))

    def summary(self) -> dict[str, Any]:
        out = dict(self.kv.summary())
        out["discovery views"] = ", ".join(
            f"{node}: {len(c.view)} instances @{c.revision} ({c.lists} lists)"
            for node, c in sorted(self.views.items())) or "none"
        return out

    def write_html(self, path: str, headline: str | None = None, headline_detail: str = "") -> bool:
        return False


SYSTEM_BUILDERS["discovery"] = DiscoverySystem
