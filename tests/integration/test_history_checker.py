"""history_checker.check on made-up histories: a clean run passes with its
pauses measured, and each kind of fault (an acked edit lost or doubled, a
revision skipped, two edits at one revision, a request never answered, two
leases committing at once, ...) is reported."""

from history_checker import ClientLog, check

DOC = "d"


def clean_run():
    """A and B type into one document: rev 1 = A.1, rev 2 = B.1, rev 3 = A.2.
    Returns (logs, final texts, document_ops rows)."""
    a, b = ClientLog("A"), ClientLog("B")
    a.events = [
        ("snapshot", DOC, 0, False, 0.0),
        ("send", DOC, 1, 0.0),
        ("ack", DOC, 1, 1, 0.05),
        ("applied", DOC, 1, "A", 1, 0.06),
        ("send", DOC, 2, 0.1),
        ("applied", DOC, 2, "B", 1, 0.2),
        ("ack", DOC, 2, 3, 0.3),
        ("applied", DOC, 3, "A", 2, 0.31),
    ]
    b.events = [
        ("snapshot", DOC, 0, False, 0.0),
        ("applied", DOC, 1, "A", 1, 0.07),
        ("send", DOC, 1, 0.1),
        ("ack", DOC, 1, 2, 0.12),
        ("applied", DOC, 2, "B", 1, 0.13),
        ("applied", DOC, 3, "A", 2, 0.32),
    ]
    text = "<A.1><B.1><A.2>"
    texts = {DOC: {"server": text, "A": text, "B": text}}
    rows = [(DOC, 1, 1, "A", 1), (DOC, 2, 1, "B", 1), (DOC, 3, 1, "A", 2)]
    return a, b, texts, rows


def violations_of(a, b, texts, rows=None):
    return check([a, b], texts, rows)[0]


def assert_reported(violations, *words):
    assert any(all(w in v for w in words) for v in violations), violations


def test_a_clean_history_passes_and_its_pauses_are_measured():
    a, b, texts, rows = clean_run()
    violations, summary = check([a, b], texts, rows)
    assert violations == []
    assert summary["acked_edits_checked"] == 3
    assert summary["requests"] == 3
    assert abs(summary["clients"]["A"]["max_pause"] - 0.2) < 1e-9
    assert abs(summary["max_pause"] - 0.2) < 1e-9
    assert abs(summary["p50"] - 0.05) < 1e-9
    assert abs(summary["clients"]["B"]["p99"] - 0.02) < 1e-9


def test_a_lost_acked_edit_is_reported():
    a, b, texts, rows = clean_run()
    texts[DOC] = "<A.1><A.2>"
    assert_reported(violations_of(a, b, texts), "B.1", "appears 0 times")


def test_a_doubled_edit_is_reported():
    a, b, texts, _ = clean_run()
    texts[DOC] = "<A.1><B.1><A.1><A.2>"
    assert_reported(violations_of(a, b, texts), "A.1", "appears 2 times")


def test_texts_that_differ_are_reported():
    a, b, texts, _ = clean_run()
    texts[DOC]["B"] = "<A.1><B.1>"
    assert_reported(violations_of(a, b, texts), "final texts differ", "B")


def test_a_document_without_a_final_text_is_reported():
    a, b, _, _ = clean_run()
    assert_reported(violations_of(a, b, {}), "no final text")


def test_a_revision_gap_is_reported():
    a, b, texts, _ = clean_run()
    b.events = [e for e in b.events if not (e[0] == "applied" and e[2] == 2)]
    assert_reported(violations_of(a, b, texts), "B", "applied rev 3 after rev 1", "gap")


def test_a_repeated_revision_is_reported():
    a, b, texts, _ = clean_run()
    b.events.append(("applied", DOC, 3, "A", 2, 0.4))
    assert_reported(violations_of(a, b, texts), "applied rev 3 after rev 3", "repeat")


def test_two_different_edits_at_one_revision_are_reported():
    a, b, texts, _ = clean_run()
    b.events[5] = ("applied", DOC, 3, "C", 7, 0.32)  # B saw someone else's edit at rev 3
    assert_reported(violations_of(a, b, texts), "two different edits at rev 3", "A.2", "C.7")


def test_two_acks_for_one_revision_are_reported():
    a, b, texts, _ = clean_run()
    b.events[3] = ("ack", DOC, 1, 1, 0.12)  # A.1 was acked at rev 1 too
    assert_reported(violations_of(a, b, texts), "two different edits at rev 1")


def test_an_edit_acked_at_two_revisions_is_reported():
    a, b, texts, _ = clean_run()
    a.events.append(("ack", DOC, 2, 4, 0.5))
    assert_reported(violations_of(a, b, texts), "A.2 acked at several revs [3, 4]")


def test_a_duplicate_ack_without_a_revision_is_fine():
    a, b, texts, _ = clean_run()
    a.events += [("send", DOC, 1, 0.5), ("ack", DOC, 1, 0, 0.51)]
    assert violations_of(a, b, texts) == []


def test_an_unanswered_send_is_reported():
    a, b, texts, _ = clean_run()
    a.events.append(("send", DOC, 3, 0.4))
    assert_reported(violations_of(a, b, texts), "A", "edit 3", "never answered")


def test_a_resend_after_a_refusal_needs_its_own_answer():
    a, b, texts, _ = clean_run()
    a.events += [("send", DOC, 3, 0.4), ("error", DOC, "rate_limited", 3, 0.41)]
    assert violations_of(a, b, texts) == []
    a.events.append(("send", DOC, 3, 0.6))
    assert_reported(violations_of(a, b, texts), "edit 3", "never answered")


def test_a_refused_edit_in_the_text_is_reported():
    a, b, texts, _ = clean_run()
    a.events += [("send", DOC, 3, 0.4), ("error", DOC, "fenced", 3, 0.41)]
    texts[DOC] = {"server": "<A.1><B.1><A.2><A.3>"}
    assert_reported(violations_of(a, b, texts), "A.3", "refused (fenced)")


def test_a_snapshot_behind_what_the_client_saw_is_reported():
    a, b, texts, _ = clean_run()
    b.events.append(("snapshot", DOC, 1, False, 0.5))
    assert_reported(violations_of(a, b, texts), "snapshot at rev 1", "seen rev 3")


def test_a_resumed_snapshot_may_replay_the_same_revisions():
    a, b, texts, _ = clean_run()
    b.events += [("snapshot", DOC, 2, True, 0.5), ("applied", DOC, 3, "A", 2, 0.51)]
    assert violations_of(a, b, texts) == []


def test_overlapping_epochs_in_the_op_log_are_reported():
    a, b, texts, rows = clean_run()
    rows[1] = (DOC, 2, 2, "B", 1)  # rev 2 under a new lease, rev 3 under the old one
    assert_reported(violations_of(a, b, texts, rows), "rev 3 committed under epoch 1", "epoch 2")


def test_a_gap_in_the_op_log_is_reported():
    a, b, texts, rows = clean_run()
    rows = rows[:1] + [(DOC, 3, 1, "A", 2), (DOC, 4, 1, "X", 1)]
    assert_reported(violations_of(a, b, texts, rows), "rev 1 then 3", "not gapless")


def test_an_edit_committed_twice_in_the_op_log_is_reported():
    a, b, texts, rows = clean_run()
    rows.append((DOC, 4, 1, "A", 1))
    assert_reported(violations_of(a, b, texts, rows), "commits A.1 twice")


def test_an_op_log_that_disagrees_with_the_acks_is_reported():
    a, b, texts, rows = clean_run()
    rows[2] = (DOC, 3, 1, "Z", 9)
    assert_reported(violations_of(a, b, texts, rows), "rev 3 is Z.9 in document_ops", "A.2")


def test_an_acked_edit_missing_from_the_op_log_is_reported():
    a, b, texts, rows = clean_run()
    assert_reported(violations_of(a, b, texts, rows[:2]), "A.2 acked at rev 3", "ends at rev 2")


def test_op_rows_from_psql_are_strings():
    a, b, texts, rows = clean_run()
    assert violations_of(a, b, texts, [tuple(str(x) for x in r) for r in rows]) == []
