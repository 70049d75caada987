"""Sharded worlds on a real local Ray instance: bit-identical to the single world for
order-independent models, no agent lost or duplicated at borders, routed commands,
Entity fields kept consistent, save / load round trips, bad input refused."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pytest

pytestmark = pytest.mark.distributed

ray = pytest.importorskip("ray")

from archetype_ecs.distributed import (  # noqa: E402
    GlobalId,
    ShardedWorld,
    ShardingError,
    flock,
    single_world_state,
)
from archetype_ecs.distributed._model import load_model  # noqa: E402
from archetype_ecs.serialization import load  # noqa: E402

FLOCK = "archetype_ecs.distributed.flock"
FLOCK_PARAMS = {"agents": 1200, "size": 60.0, "radius": 2.0, "speed": 1.0, "dt": 0.5}


def _check_frame(single: pa.Table, sharded: pa.Table, n: int) -> None:
    gids = sharded["global_id"].to_numpy()
    assert len(gids) == n, "an agent was lost or duplicated"
    assert len(np.unique(gids)) == n, "a global id appears twice"
    assert sharded.to_pydict() == single.to_pydict()


BOIDS = "archetype_ecs.demos.boids"
BOIDS_PARAMS = {"agents": 2000, "size": 120.0}
# boids live on a periodic square (WorldBounds "wrap"); the halo is the interaction radius
BOIDS_SHARDING = {
    "bounds": (0.0, 0.0, 120.0, 120.0),
    "halo": 5.0,
    "position": ("Position2D.x", "Position2D.y"),
    "periodic": True,
}


@pytest.mark.parametrize(
    "shards", [(2, 1), pytest.param((2, 2), marks=pytest.mark.slow)]
)
def test_sharded_boids_equal_the_single_world_every_frame(ray_local, shards):
    from archetype_ecs.demos import boids
    from archetype_ecs.physics import Position2D, Velocity2D

    assert boids.PARAMS["radius"] == BOIDS_SHARDING["halo"]
    single = boids.build(seed=3, threads=1, **BOIDS_PARAMS)
    n = len(single)
    with ShardedWorld(
        BOIDS, shards=shards, params=BOIDS_PARAMS, seed=3, **BOIDS_SHARDING
    ) as sw:
        _check_frame(
            single_world_state(single, Position2D, Velocity2D),
            sw.gather("Position2D", "Velocity2D"),
            n,
        )
        for _ in range(50):
            single.step()
            sw.step()
            _check_frame(
                single_world_state(single, Position2D, Velocity2D),
                sw.gather(Position2D, Velocity2D),
                n,
            )
        # the test exercised both exchanges, across the wrap too (else it would pass
        # vacuously)
        assert sum(s.migrants for s in sw.stats) > 20
        assert min(s.ghosts for s in sw.stats) > 0
        assert sum(sw.counts()) == n
    single.close()


@pytest.mark.slow
@pytest.mark.parametrize("shards", [(2, 1), (2, 2)])
def test_sharded_flock_equals_single_world_every_frame(ray_local, shards):
    """The reference flock on a bounded square (walls, edge regions to infinity)."""
    single = flock.build(seed=3, threads=1, **FLOCK_PARAMS)
    n = len(single)
    with ShardedWorld(FLOCK, shards=shards, params=FLOCK_PARAMS, seed=3) as sw:
        for _ in range(50):
            single.step()
            sw.step()
            _check_frame(
                single_world_state(single, flock.Position, flock.Velocity),
                sw.gather(flock.Position, flock.Velocity),
                n,
            )
        assert sum(s.migrants for s in sw.stats) > 20
    single.close()


def test_routed_commands_and_entity_refs_match_the_single_world(ray_local, contagion):
    module = load_model(contagion).module
    params = {"agents": 400, "size": 30.0, "radius": 1.5}
    single = module.build(seed=5, threads=1, **params)
    comps = (module.Position, module.Health, module.Partner)
    with ShardedWorld(contagion, shards=(2, 1), params=params, seed=5) as sw:
        for _ in range(15):
            single.step()
            sw.step()
            _check_frame(
                single_world_state(single, *comps), sw.gather(*comps), len(single)
            )
        # infections crossed shard borders only through routed commands
        assert sum(s.routed for s in sw.stats) > 0
        assert sum(s.migrants for s in sw.stats) > 0
        # partners are global ids of live agents (refs translated on every move)
        t = sw.gather(*comps)
        assert set(t["Partner.target"].to_pylist()) <= set(t["global_id"].to_pylist())
        # commands from the driver go to the owning shards, by global id
        gids = t["global_id"].to_numpy()[::7]
        sw.set(gids, "Health", {"sick": np.full(len(gids), 7, np.int32)})
        after = sw.gather("Health")
        sick = dict(
            zip(
                after["global_id"].to_pylist(),
                after["Health.sick"].to_pylist(),
                strict=True,
            )
        )
        assert all(sick[int(g)] == 7 for g in gids)
        old = dict(
            zip(t["global_id"].to_pylist(), t["Health.sick"].to_pylist(), strict=True)
        )
        targeted = set(gids.tolist())
        assert all(v == old[g] for g, v in sick.items() if g not in targeted)
        sw.despawn(gids[:3])
        assert len(sw) == len(single) - 3
        with pytest.raises(ShardingError, match="owned by no shard"):
            sw.despawn(gids[:1])
        assert len(sw) == len(single) - 3
    single.close()


@pytest.mark.slow
def test_save_load_round_trip(ray_local, contagion, tmp_path):
    params = {"agents": 300, "size": 30.0}
    comps = ("Position", "Velocity", "Health", "Partner")
    with ShardedWorld(contagion, shards=(2, 1), params=params, seed=4) as sw:
        sw.step(4)
        manifest = sw.save(tmp_path / "save")
        before = sw.gather(*comps)
        saved_rows = sw.counts()
        sw.step(3)
        expected = sw.gather(*comps)
        shard_rows = sw.counts()
    assert manifest.name == "sharded.json"
    # one shard's save loads as a plain world with the same rows
    module = load_model(contagion).module
    classes = [
        module.Position,
        module.Velocity,
        module.Health,
        module.Partner,
        GlobalId,
    ]
    plain = load(
        tmp_path / "save" / "save-000001" / "shard-0", components=classes
    ).world
    mine = plain.to_arrow(GlobalId, module.Position, module.Velocity, module.Health)
    mine = mine.drop_columns(["entity"]).rename_columns(
        ["global_id", *mine.column_names[2:]]
    )
    mine = mine.sort_by("global_id")
    assert len(plain) == saved_rows[0] == mine.num_rows > 0
    assert bool(
        np.all(mine["Position.x"].to_numpy() < 15.0)
    )  # region 0 of (2, 1) over 30
    rows = before.filter(pa.compute.is_in(before["global_id"], mine["global_id"]))
    assert rows.drop_columns(["Partner.target"]).to_pydict() == mine.to_pydict()
    with ShardedWorld.load(tmp_path / "save") as again:
        assert again.frame == 4
        assert again.gather(*comps).to_pydict() == before.to_pydict()
        again.step(3)
        assert again.gather(*comps).to_pydict() == expected.to_pydict()
        assert again.counts() == shard_rows
    del module


def test_bad_input_is_refused_before_actors_start(contagion, tmp_path):
    with pytest.raises(ShardingError, match="columns must be an int"):
        ShardedWorld(contagion, shards=(0, 1))
    with pytest.raises(ShardingError, match="position"):
        ShardedWorld(contagion, shards=2, position=("Position.x", "Velocity.vy"))
    with pytest.raises(ShardingError, match="halo"):
        ShardedWorld(contagion, shards=2, halo=-1.0)
    with pytest.raises(ShardingError, match="bounds"):
        ShardedWorld(contagion, shards=2, bounds=(0.0, 0.0, 0.0, 1.0))
    with pytest.raises(ShardingError, match="not a sharded save"):
        ShardedWorld.load(tmp_path)


@pytest.mark.slow
def test_agents_that_jump_past_a_region_still_migrate(ray_local, contagion):
    params = {"agents": 300, "size": 30.0, "speed": 0.0}
    with ShardedWorld(contagion, shards=(3, 1), params=params, seed=6) as sw:
        assert sw.infos[0].adjacent == (1,)
        t = sw.gather("Position", "Health")
        west = t.filter(pa.compute.less(t["Position.x"], 10.0))
        gids = west["global_id"].to_numpy()
        sw.set(
            gids,
            "Position",
            {"x": np.full(len(gids), 25.0), "y": west["Position.y"].to_numpy()},
        )
        stats = sw.step()[0]
        assert stats.migrants == len(gids)
        assert sw.counts()[0] == 0
        assert (
            sw.counts()[2]
            == len(gids)
            + t.filter(pa.compute.greater_equal(t["Position.x"], 20.0)).num_rows
        )
        after = sw.gather("Position", "Health")
        assert sorted(after["global_id"].to_pylist()) == sorted(
            t["global_id"].to_pylist()
        )


@pytest.mark.slow
def test_a_model_that_fails_in_a_shard_gives_a_sharding_error(ray_local, contagion):
    with pytest.raises(ShardingError, match=r"failed to start: .*failing seed") as info:
        ShardedWorld(contagion, shards=(2, 1), params={"fail_seed": 0}, seed=0)
    assert info.value.__cause__ is not None


@pytest.mark.slow
def test_two_sharded_worlds_at_once_do_not_wait_for_cpus(ray_local):
    """Actors reserve no CPU by default: 2 + 4 shards fit a 2-CPU instance together."""
    params = {"agents": 400, "size": 40.0}
    with (
        ShardedWorld(FLOCK, shards=2, params=params) as a,
        ShardedWorld(FLOCK, shards=(2, 2), params=params) as b,
    ):
        a.step(2)
        b.step(2)
        assert len(a) == len(b) == 400
