"""How many were randomised: the order in which sample_size.py believes the counts
that rules/sample_size.yml finds (each rule's own examples are checked in test_rules)."""

from __future__ import annotations

import pytest

from pipeline import rules, sample_size
from pipeline.extract import Record, extract


def n(abstract: str, title: str = "Dry needling for tension-type headache: a randomized trial") -> tuple[int | None, str]:
    e = extract(Record(title=title, abstract=abstract))
    reason = next(r for r in e.reasons if r.field == "n_randomized")
    return e.n_randomized, reason.rule


def test_the_number_randomised_beats_screened_and_completed_counts():
    assert n("METHODS: Of 120 screened, 64 were eligible and randomized to needling or sham.\n"
             "RESULTS: Sixty participants (94%) completed the 12-week follow-up.") == (64, "count.randomised.were-randomised")


def test_group_counts_in_the_allocating_sentence_are_added_up():
    got = n("METHODS: Participants (mean age 41.7 ± 11.2 years; 49 women) were randomly assigned, "
            "32 to manual therapy plus dry needling and 31 to manual therapy alone.")
    assert got == (63, "n.groups-added-up")


def test_a_count_per_group_is_multiplied_by_the_groups_named():
    assert n("METHODS: Patients were randomly assigned to three groups (n = 25 each).")[0] == 75
    # the number of groups from the title when the sentence does not say it
    assert n("METHODS: Patients were randomized, 18 in each arm, to the three treatments.",
             title="Needling, taping or laser for tension-type headache: a three-arm randomized trial")[0] == 54


def test_a_count_per_group_without_the_number_of_groups_is_a_weak_two_arm_guess():
    e = extract(Record(title="Dry needling versus botulinum toxin for occipital neuralgia: a randomized trial",
                       abstract="METHODS: Patients were randomized, 18 in each arm, to dry needling or to botulinum toxin."))
    reason = next(r for r in e.reasons if r.field == "n_randomized")
    assert (e.n_randomized, reason.confidence) == (36, "low")


def test_responders_and_breakdowns_are_not_the_sample():
    assert n("METHODS: Fifty women were randomised to dry needling or lidocaine.\n"
             "RESULTS: Injection was rated as more painful by 17 women; 22 of 32 responded.")[0] == 50


def test_without_randomisation_the_number_enrolled_and_a_case_series_title():
    title = "Dry needling of the suboccipital muscles in occipital neuralgia: a case series of six patients"
    got = n("BACKGROUND: We describe consecutive patients.\nCASE PRESENTATION: The patients (five women) received 4 sessions.",
            title=title)
    assert got[0] == 6
    assert n("METHODS: An online survey was sent to 1500 registered physiotherapists; 412 responded.",
             title="Use of dry needling for headache: a survey")[0] == 412


def test_reviews_and_protocols_have_no_sample_size():
    e = extract(Record(title="Dry needling for headache: a systematic review and meta-analysis",
                       abstract="RESULTS: Eight trials with 577 patients were included."))
    assert e.n_randomized is None


def test_a_rule_id_must_name_its_role():
    with pytest.raises(rules.RuleError, match="count.ROLE.name"):
        sample_size.role_of("count.guess.something")
    assert sample_size.role_of("count.not_sample.stage") == "not_sample"
    # every count rule in rules/sample_size.yml names a known role
    assert {sample_size.role_of(r.id) for r in rules.default().of("count")} == set(sample_size.ROLES)
