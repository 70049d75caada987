"""BehaviorTree.CPP v4 XML import: supported nodes map onto ours; others are refused."""

from __future__ import annotations

import pytest

from behaviors.btcpp import from_btcpp_xml
from behaviors.nodes import (
    ALL,
    Action,
    Condition,
    ForceFailure,
    ForceSuccess,
    Inverter,
    N,
    Parallel,
    Repeat,
    Retry,
    Selector,
    Sequence,
    Timeout,
)
from behaviors.tree import TreeError

XML = """
<root BTCPP_format="4" main_tree_to_execute="Main">
  <BehaviorTree ID="Main">
    <ReactiveSequence name="top">
      <IsSafe/>
      <Fallback>
        <Action ID="eat" amount="3"/>
        <Parallel success_count="2" failure_count="1">
          <Inverter><Condition ID="full"/></Inverter>
          <ForceSuccess><Action ID="walk" speed="1.5"/></ForceSuccess>
          <ForceFailure><Action ID="walk" speed="2"/></ForceFailure>
        </Parallel>
        <RetryUntilSuccessful num_attempts="3">
          <Repeat num_cycles="2"><Timeout msec="500"><Action ID="walk" speed="1"/></Timeout></Repeat>
        </RetryUntilSuccessful>
        <Sequence><Action ID="rest" fast="true"/></Sequence>
      </Fallback>
    </ReactiveSequence>
  </BehaviorTree>
  <TreeNodesModel><Condition ID="IsSafe"/></TreeNodesModel>
</root>
"""


def test_supported_nodes_map_onto_ours() -> None:
    t = from_btcpp_xml(XML)
    walk = Action("walk", speed=1)
    expect = Sequence(
        [
            Condition("IsSafe"),
            Selector(
                [
                    Action("eat", amount=3),
                    Parallel(
                        [
                            Inverter(Condition("full")),
                            ForceSuccess(Action("walk", speed=1.5)),
                            ForceFailure(Action("walk", speed=2)),
                        ],
                        success=N(2),
                        failure=N(1),
                    ),
                    Retry(Repeat(Timeout(walk, seconds=0.5), n=2), n=3),
                    Sequence([Action("rest", fast=True)]),
                ]
            ),
        ],
        memory=False,
        label="top",
    )
    assert t.root == expect
    assert t.name == "Main"


def test_parallel_defaults_are_all_and_one() -> None:
    t = from_btcpp_xml(
        '<root BTCPP_format="4"><BehaviorTree ID="P"><Parallel>'
        '<Action ID="a"/><Action ID="b"/></Parallel></BehaviorTree></root>'
    )
    assert isinstance(t.root, Parallel)
    assert t.root.success == ALL
    assert t.root.failure == N(1)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("<SubTree ID='x'/>", "'SubTree' is not supported"),
        ("<Delay delay_msec='3'><Action ID='a'/></Delay>", "'Delay' is not supported"),
        ("<Action ID='a' target='{goal}'/>", "blackboard port"),
        ("<Action ID='a' _skipIf='x'/>", "pre/post-condition"),
        ("<Mystery/>", "unknown node 'Mystery'"),
        ("<Inverter><Action ID='a'/><Action ID='b'/></Inverter>", "exactly one child"),
        ("<Repeat num_cycles='-1'><Action ID='a'/></Repeat>", "infinite"),
    ],
)
def test_unsupported_input_is_refused_by_name(body: str, match: str) -> None:
    xml = f'<root BTCPP_format="4"><BehaviorTree ID="T">{body}</BehaviorTree></root>'
    with pytest.raises(TreeError, match=match):
        from_btcpp_xml(xml)


def test_wrong_format_version_is_refused() -> None:
    with pytest.raises(TreeError, match="convert_v3_to_v4"):
        from_btcpp_xml('<root BTCPP_format="3"><BehaviorTree ID="T"/></root>')
