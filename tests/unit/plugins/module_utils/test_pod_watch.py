"""Which pods the waiter asks for: the new revisions' only, narrowed by their hash label."""

from ansible_collections.kubedev.devloop.plugins.module_utils.pod_watch import RESTART_GAP, PodWatch

HASH = "pod-template-hash"


def test_a_target_alone_gets_its_own_selector_and_its_new_revision():
    watch = PodWatch("ns", (0,), alone_selector="app=web")
    assert watch.selector(frozenset([(HASH, "5dc9ffbd9f")])) == ("app=web,pod-template-hash in (5dc9ffbd9f)", True)


def test_targets_sharing_a_namespace_get_their_revisions_in_one_selector():
    watch = PodWatch("ns", (0, 1, 2))
    labels = frozenset([(HASH, "b2"), (HASH, "a1"), (HASH, "c3")])
    assert watch.selector(labels) == ("pod-template-hash in (a1,b2,c3)", True)


def test_revisions_under_different_labels_cannot_share_a_selector():
    watch = PodWatch("ns", (0, 1), alone_selector=None)
    labels = frozenset([(HASH, "a1"), ("controller-revision-hash", "db-7f9c")])
    assert watch.selector(labels) == (None, False)     # the namespace's pods, routed here


def test_the_first_revision_starts_the_watch_at_once_later_ones_after_the_gap():
    watch = PodWatch("ns", (0, 1))
    first = frozenset([(HASH, "a1")])
    assert watch.restart_due(frozenset(), 10.0) is None          # nothing known yet: nothing to watch
    assert watch.restart_due(first, 10.0) == 10.0
    watch.stream, watch.labels, watch.started = object(), first, 10.0
    assert watch.restart_due(first, 10.1) is None                 # already selected
    both = first | {(HASH, "b2")}
    assert watch.restart_due(both, 10.1) == 10.0 + RESTART_GAP
    assert watch.restart_due(both, 12.0) == 12.0


def test_a_watch_that_sees_every_pod_is_never_restarted():
    watch = PodWatch("ns", (0, 1))
    watch.stream, watch.everything, watch.started = object(), True, 0.0
    assert watch.restart_due(frozenset([(HASH, "a1")]), 5.0) is None
