from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pyarrow as pa
import pytest

from archetype_ecs import SchemaError, component, is_component
from archetype_ecs.events import (
    EventBatch,
    EventQueue,
    EventReader,
    Events,
    event,
    event_schema,
    is_event,
)
from archetype_ecs.schema import EntityRef, f32, i32, u8


@event
class Damage:
    target: EntityRef = 0
    amount: f32 = 0.0


@event
class Moved:
    delta: f32[3]


@event
class Ping:
    pass


@event(name="Hit", version=2)
class Strike:
    power: i32 = 1


@event
class Level:
    value: u8 = 0


@component
class Position:
    x: f32 = 0.0


def _frames(q: EventQueue) -> list[int]:
    return q.to_arrow().column("frame").to_pylist()


# ---------------------------------------------------------------- declaration


def test_event_is_a_slotted_dataclass_with_a_component_schema():
    assert dataclasses.is_dataclass(Damage)
    assert Damage() == Damage(0, 0.0)
    assert not hasattr(Damage(), "__dict__")
    schema = event_schema(Damage)
    assert schema.field_names() == ["target", "amount"]
    assert schema.fields[0].type.is_entity
    assert event_schema(Damage(1, 2.0)) is schema


def test_event_decorator_takes_name_and_version():
    schema = event_schema(Strike)
    assert (schema.name, schema.version) == ("Hit", 2)
    assert EventQueue(Strike).name == "Hit"


def test_is_event_is_true_only_for_event_classes():
    assert is_event(Damage)
    assert is_event(Ping)
    assert not is_event(Damage())
    assert not is_event(Position)
    assert not is_event(int)
    assert is_component(Damage)  # an event type is component-like


def test_event_schema_of_a_component_says_it_is_a_component():
    with pytest.raises(SchemaError, match=r"^Position is a component.*@event"):
        event_schema(Position)
    with pytest.raises(SchemaError, match="not an event type"):
        event_schema(int, "somewhere")


def test_bad_event_declaration_fails_at_decoration():
    with pytest.raises(SchemaError, match="not a field type"):

        @event
        class Bad:
            name: str = ""


# -------------------------------------------------------------------- sending


def test_send_assigns_increasing_sequence_numbers_in_send_order():
    q = EventQueue(Damage)
    q.send(Damage(1, 1.0))
    q.send(Damage(2, 2.0))
    q.send_batch({"target": [3, 4], "amount": [3.0, 4.0]})
    assert len(q) == 4
    assert q.next_sequence == 4
    table = q.to_arrow()
    assert table.column("sequence").to_pylist() == [0, 1, 2, 3]
    assert table.column("Damage.target").to_pylist() == [1, 2, 3, 4]
    assert table.column("Damage.amount").to_pylist() == [1.0, 2.0, 3.0, 4.0]


def test_send_batch_broadcasts_an_instance_to_n_events():
    q = EventQueue(Damage)
    q.send_batch(Damage(9, 0.5), n=3)
    batch = q.reader().read()
    assert batch.count == 3
    np.testing.assert_array_equal(batch["target"], [9, 9, 9])
    np.testing.assert_array_equal(batch["amount"], np.full(3, 0.5, np.float32))


def test_send_batch_none_with_n_sends_defaults():
    q = EventQueue(Strike)
    q.send_batch(None, n=2)
    assert q.to_arrow().column("Hit.power").to_pylist() == [1, 1]


def test_send_batch_missing_fields_take_defaults():
    q = EventQueue(Damage)
    q.send_batch({"amount": np.array([1.0, 2.0])})
    assert q.to_arrow().column("Damage.target").to_pylist() == [0, 0]


def test_send_batch_one_field_event_takes_the_array_itself():
    q = EventQueue(Strike)
    q.send_batch(np.array([5, 6, 7]))
    assert q.to_arrow().column("Hit.power").to_pylist() == [5, 6, 7]


def test_send_batch_of_vectors():
    q = EventQueue(Moved)
    q.send_batch({"delta": np.arange(6, dtype=np.float32).reshape(2, 3)})
    q.send(Moved((9.0, 9.0, 9.0)))
    batch = q.reader().read()
    assert batch["delta"].shape == (3, 3)
    np.testing.assert_array_equal(batch["delta"][2], [9.0, 9.0, 9.0])
    table = q.to_arrow()
    assert table.column("Moved.delta").type == pa.list_(pa.float32(), 3)
    assert table.column("Moved.delta").to_pylist()[0] == [0.0, 1.0, 2.0]


def test_send_batch_of_zero_events_is_a_no_op():
    q = EventQueue(Damage)
    q.send_batch({"amount": np.array([], dtype=np.float32)})
    q.send_batch(Damage(), n=0)
    assert len(q) == 0
    assert q.next_sequence == 0


def test_tag_events_are_counted():
    q = EventQueue(Ping)
    r = q.reader()
    q.send(Ping())
    q.send_batch(None, n=4)
    batch = r.read()
    assert batch.count == 5
    assert dict(batch) == {}
    assert batch.sequence.tolist() == [0, 1, 2, 3, 4]


def test_send_batch_accepts_arrow_tables_and_round_trips_to_arrow():
    src = EventQueue(Damage)
    src.send_batch({"target": [1, 2], "amount": [0.5, 1.5]})
    dst = EventQueue(Damage)
    dst.send_batch(src.to_arrow())  # sequence / frame columns are ignored
    assert dst.to_arrow().equals(src.to_arrow())
    plain = pa.table({"target": pa.array([7], pa.uint64()), "amount": [2.0]})
    dst.send_batch(plain)
    assert dst.to_arrow().column("Damage.target").to_pylist() == [1, 2, 7]


# ----------------------------------------------------------------- validation


def test_send_of_another_type_is_refused():
    q = EventQueue(Damage)
    with pytest.raises(SchemaError, match=r"EventQueue\[Damage\].send: got Strike"):
        q.send(Strike(3))
    with pytest.raises(SchemaError, match="got Position"):
        q.send(Position(1.0))
    assert len(q) == 0


def test_float_values_into_an_int_field_are_e0003(raises_coded):
    q = EventQueue(Strike)
    with raises_coded(SchemaError, "E0003", "Hit.power", "float64"):
        q.send_batch({"power": np.array([1.5, 2.5])})
    assert len(q) == 0


def test_overflowing_ints_are_e0003(raises_coded):
    q = EventQueue(Level)
    with raises_coded(SchemaError, "E0003", "Level.value", "do not fit"):
        q.send_batch({"value": np.array([1, 300])})
    with raises_coded(SchemaError, "E0003", "Level.value"):
        q.send(Level(value=-1))
    assert len(q) == 0


def test_wrong_vector_shape_is_e0004(raises_coded):
    q = EventQueue(Moved)
    with raises_coded(SchemaError, "E0004", "Moved.delta", "(n, 3)"):
        q.send_batch({"delta": np.zeros((2, 2), dtype=np.float32)})
    assert len(q) == 0


def test_unknown_field_is_e0005(raises_coded):
    q = EventQueue(Damage)
    with raises_coded(SchemaError, "E0005", "Damage", "amout"):
        q.send_batch({"amout": [1.0]})
    assert len(q) == 0


def test_columns_of_different_lengths_are_e0009(raises_coded):
    q = EventQueue(Damage)
    with raises_coded(SchemaError, "E0009", "Damage.amount", "expected 2"):
        q.send_batch({"target": [1, 2], "amount": [1.0, 2.0, 3.0]})
    assert len(q) == 0
    assert q.next_sequence == 0


def test_broadcast_without_n_is_e0009(raises_coded):
    q = EventQueue(Damage)
    with raises_coded(SchemaError, "E0009", "pass n="):
        q.send_batch(Damage(1, 1.0))
    with raises_coded(SchemaError, "E0009", "pass n="):
        q.send_batch(None)
    with raises_coded(SchemaError, "E0009", "pass n="):
        EventQueue(Ping).send_batch({})


def test_wrong_kind_of_values_is_a_schema_error():
    with pytest.raises(SchemaError, match="must be None"):
        EventQueue(Damage).send_batch([1, 2, 3])


def test_strings_are_e0003(raises_coded):
    with raises_coded(SchemaError, "E0003", "Hit.power"):
        EventQueue(Strike).send_batch(np.array(["a", "b"]))


def test_queue_of_a_non_event_is_refused():
    with pytest.raises(SchemaError, match="is a component"):
        EventQueue(Position)


# -------------------------------------------------------- double-buffer lifetime


def test_events_live_for_the_frame_they_are_sent_in_and_the_next():
    q = EventQueue(Strike)
    q.send(Strike(0))  # frame 0
    q.update()  # end of frame 0
    assert len(q) == 1
    q.send(Strike(1))  # frame 1
    assert _frames(q) == [0, 1]
    q.update()  # end of frame 1: frame 0's events go
    assert q.to_arrow().column("Hit.power").to_pylist() == [1]
    assert q.start_sequence == 1
    q.update()  # end of frame 2: frame 1's events go
    assert len(q) == 0
    assert q.start_sequence == q.next_sequence == 2
    assert q.frame == 3


def test_update_keeps_sequence_numbers_and_values_aligned():
    q = EventQueue(Strike)
    for frame in range(6):
        q.send_batch({"power": np.arange(frame * 10, frame * 10 + frame + 1)})
        q.update()
        table = q.to_arrow()
        seq = table.column("sequence").to_pylist()
        assert seq == list(range(q.start_sequence, q.next_sequence))
        powers = table.column("Hit.power").to_pylist()
        assert [p // 10 for p in powers] == table.column("frame").to_pylist()


def test_queue_clear_drops_everything_now():
    q = EventQueue(Strike)
    r = q.reader()
    q.send_batch({"power": [1, 2]})
    q.clear()
    assert len(q) == 0
    assert len(r) == 0
    assert r.missed == 2
    q.send(Strike(3))
    assert r.read()["power"].tolist() == [3]


def test_storage_grows_and_shrinks_after_a_burst():
    q = EventQueue(Strike)
    for i in range(100):
        q.send_batch({"power": np.arange(i * 50, (i + 1) * 50)})
    assert q.to_arrow().column("Hit.power").to_pylist() == list(range(5000))
    big = q.nbytes()
    q.update()
    q.update()
    assert len(q) == 0
    assert q.nbytes() < big // 8
    q.send(Strike(1))
    assert q.to_arrow().column("Hit.power").to_pylist() == [1]


# ---------------------------------------------------------------- reader cursors


def test_reader_reads_each_event_once_across_frames():
    events = Events()
    r = events.reader(Strike)
    events.send(Strike(1))
    assert r.read()["power"].tolist() == [1]
    events.send(Strike(2))  # sent later in the same frame
    events.update_all()
    events.send(Strike(3))
    assert r.read()["power"].tolist() == [2, 3]
    events.update_all()
    events.update_all()
    assert r.read().count == 0
    assert r.missed == 0


def test_reader_sees_last_frames_events_in_the_next_frame():
    events = Events()
    r = events.reader(Strike)
    events.send(Strike(7))
    events.update_all()  # end of frame 0: the reader's system runs before sending
    batch = r.read()
    assert batch["power"].tolist() == [7]
    assert batch.frame.tolist() == [0]


def test_readers_have_independent_cursors():
    events = Events()
    a, b = events.reader(Strike), events.reader(Strike)
    events.send_batch(Strike, {"power": [1, 2]})
    assert a.read().count == 2
    assert len(a) == 0
    assert len(b) == 2
    assert b.read()["power"].tolist() == [1, 2]


def test_reader_created_late_sees_the_buffered_events():
    q = EventQueue(Strike)
    q.send(Strike(1))
    q.update()
    q.send(Strike(2))
    late = q.reader()
    assert late.read()["power"].tolist() == [1, 2]
    assert late.missed == 0
    q.update()
    q.update()
    assert q.reader().missed == 0  # created after the drop: nothing missed


def test_reader_skip_buffered_starts_at_the_end():
    q = EventQueue(Strike)
    q.send(Strike(1))
    r = q.reader(skip_buffered=True)
    assert len(r) == 0
    q.send(Strike(2))
    assert r.read()["power"].tolist() == [2]


def test_missed_events_are_counted():
    q = EventQueue(Strike)
    r = q.reader()
    q.send_batch({"power": [1, 2, 3]})  # frame 0
    q.update()
    q.send(Strike(4))  # frame 1
    q.update()  # drops frame 0 unread
    assert r.missed == 3
    assert len(r) == 1
    assert r.cursor == 3
    batch = r.read()
    assert batch["power"].tolist() == [4]
    assert batch.sequence.tolist() == [3]
    assert r.missed == 3  # reading does not count them twice
    q.send(Strike(5))
    q.update()
    q.update()
    assert r.missed == 4


def test_partially_read_then_dropped_counts_only_the_unread():
    q = EventQueue(Strike)
    r = q.reader()
    q.send(Strike(1))
    r.read()
    q.send(Strike(2))
    q.update()
    q.update()
    assert r.missed == 1
    assert r.read().count == 0


def test_peek_does_not_advance_the_cursor():
    q = EventQueue(Strike)
    r = q.reader()
    q.send_batch({"power": [1, 2]})
    assert r.peek()["power"].tolist() == [1, 2]
    assert len(r) == 2
    assert r.read()["power"].tolist() == [1, 2]
    assert r.peek().count == 0


def test_reader_clear_marks_all_read_and_counts_missed():
    q = EventQueue(Strike)
    r = q.reader()
    q.send(Strike(1))
    q.update()
    q.update()
    q.send(Strike(2))
    r.clear()
    assert len(r) == 0
    assert r.missed == 1
    q.send(Strike(3))
    assert r.read()["power"].tolist() == [3]


def test_read_returns_copies_by_default_and_views_on_request():
    q = EventQueue(Strike)
    q.send_batch({"power": [1, 2]})
    copied = q.reader().read()
    viewed = q.reader().read(copy=False)
    assert not np.shares_memory(copied["power"], q._cols["power"])
    assert np.shares_memory(viewed["power"], q._cols["power"])
    q.update()
    q.send(Strike(9))
    q.update()  # compacts storage: views may now show other events
    assert copied["power"].tolist() == [1, 2]


def test_event_batch_is_a_dict_of_fields_with_metadata():
    q = EventQueue(Damage)
    q.send(Damage(5, 1.0))
    batch = q.reader().read()
    assert isinstance(batch, EventBatch)
    assert isinstance(batch, dict)
    assert list(batch) == ["target", "amount"]
    assert batch["target"].dtype == np.uint64
    assert batch.frame.dtype == np.int64
    assert "count=1" in repr(batch)


# -------------------------------------------------------------------- registry


def test_events_registry_creates_one_queue_per_type():
    events = Events()
    q = events.queue(Damage)
    assert events.queue(Damage) is q
    assert Damage in events
    assert Ping not in events
    events.queue(Ping)
    assert len(events) == 2
    assert {x.name for x in events} == {"Damage", "Ping"}
    assert isinstance(events.reader(Ping), EventReader)


def test_events_registry_refuses_non_events_and_duplicate_names(raises_coded):
    events = Events()
    with pytest.raises(SchemaError, match="is a component"):
        events.queue(Position)
    with pytest.raises(SchemaError, match="a Position instance is a component"):
        events.send(Position(1.0))
    with pytest.raises(SchemaError, match="int is not an event type"):
        events.reader(int)
    events.queue(Strike)

    @event(name="Hit")
    class OtherHit:
        power: i32 = 0

    with raises_coded(SchemaError, "E0010", "'Hit'", "@event(name=...)"):
        events.queue(OtherHit)
    assert len(events) == 1


def test_update_all_updates_every_queue():
    events = Events()
    events.send(Strike(1))
    events.send(Ping())
    events.update_all()
    events.update_all()
    assert all(len(q) == 0 for q in events)
    assert all(q.frame == 2 for q in events)


def test_queues_created_late_share_the_registry_frame_number():
    events = Events()
    events.send(Strike(1))
    events.update_all()
    events.update_all()
    assert events.frame == 2
    events.send(Ping())
    assert events.queue(Ping).frame == 2
    assert events.reader(Ping).read().frame.tolist() == [2]


def test_reprs_and_nbytes():
    events = Events()
    events.send(Strike(1))
    assert "buffered=1" in repr(events)
    assert "Hit" in repr(events.queue(Strike))
    assert "unread=1" in repr(events.reader(Strike))
    assert events.nbytes() == events.queue(Strike).nbytes() > 0


def test_concurrent_senders_lose_no_events():
    q = EventQueue(Strike)

    def send(k: int) -> None:
        for i in range(200):
            q.send_batch({"power": [k * 1000 + i]})

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    powers = q.reader().read()["power"]
    assert len(powers) == 800
    assert sorted(powers.tolist()) == sorted(
        k * 1000 + i for k in range(4) for i in range(200)
    )
    for k in range(4):  # each sender's events keep their order
        mine = powers[powers // 1000 == k]
        assert (np.diff(mine) > 0).all()
