"""The trained head, on the real local model: labels from examples and from descriptions alone,
`other` below the threshold, the cascade, determinism and versions."""

from __future__ import annotations

import pytest
from loopline.classifier.embedding.local import MiniLMEmbedder, local_embedder
from loopline.classifier.head import (
    OTHER,
    HeadConfig,
    LabelHead,
    LabelSpec,
    Prediction,
    decide,
    head_version,
    humanize,
    train_head,
    training_set,
)

LABELS = [
    LabelSpec(
        "refund",
        "The user wants their money back for an order or a charge",
        ("I want a refund", "give me my money back", "refund my last order please"),
    ),
    LabelSpec(
        "card_lost",
        "The user lost their bank card or it was stolen",
        ("I lost my card", "my card was stolen", "can't find my credit card"),
    ),
    LabelSpec(
        "password_reset",
        "The user cannot log in and needs to reset their password",
        ("reset my password", "I forgot my password", "locked out of my account"),
    ),
    # no examples: learns from its description and its name only
    LabelSpec("weather", "Questions about the weather forecast, rain, temperature"),
]


@pytest.fixture(scope="module")
def model() -> MiniLMEmbedder:
    return local_embedder()


@pytest.fixture(scope="module")
def head(model: MiniLMEmbedder) -> LabelHead:
    return train_head(LABELS, model)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("please refund the charge from yesterday", "refund"),
        ("somebody stole my visa card", "card_lost"),
        ("how can I change my forgotten password", "password_reset"),
        ("will it rain in Paris tomorrow?", "weather"),  # a label without examples
        ("what temperature is it outside", "weather"),
    ],
)
def test_predicts_labels_including_one_without_examples(head: LabelHead, text: str, label: str) -> None:
    [prediction] = head.predict([text])
    assert prediction.label == label
    assert 0.0 < prediction.confidence <= 1.0
    assert prediction.embedded


def test_semantic_only_head_also_works(model: MiniLMEmbedder) -> None:
    head = train_head(LABELS, model, HeadConfig(lexical=False))
    assert head.vectorizer is None
    assert [p.label for p in head.predict(["my card is gone", "it is sunny today?"])] == [
        "card_lost",
        "weather",
    ]


def test_threshold_gives_other() -> None:
    assert decide(Prediction("refund", 0.4, True), 0.5) == (OTHER, 0.4)
    assert decide(Prediction("refund", 0.5, True), 0.5) == ("refund", 0.5)
    assert decide(None, 0.0) == (OTHER, 0.0)


def test_off_topic_text_is_less_confident(head: LabelHead) -> None:
    on, off = head.predict(["I want a refund for my order", "the mitochondria is the powerhouse of the cell"])
    assert on.confidence > off.confidence


def test_deterministic_and_versioned(model: MiniLMEmbedder, head: LabelHead) -> None:
    a, b = head, train_head(list(reversed(LABELS)), model)
    texts = ["refund me", "lost card", "sunny?", "hello"]
    assert a.version == b.version  # label order does not matter
    assert a.predict(texts) == b.predict(texts)
    changed = [*LABELS[:3], LabelSpec("weather", "Questions about the weather", ("is it raining",))]
    assert train_head(changed, model).version != a.version
    assert head_version(LABELS, HeadConfig(c=1.0), model.model_id) != a.version
    assert head_version(LABELS, HeadConfig(), "another-model") != a.version


def test_cascade_decides_sure_texts_without_the_model(head: LabelHead) -> None:
    texts = ["I lost my card", "somebody stole my visa card"]
    fast = head.predict(texts, fast_threshold=0.0)  # the lexical stage decides everything
    assert [p.embedded for p in fast] == [False, False]
    assert fast[0].label == "card_lost"
    never = head.predict(texts, fast_threshold=1.01)
    assert [p.embedded for p in never] == [True, True]
    assert never == head.predict(texts)


def test_single_label_uses_similarity(model: MiniLMEmbedder) -> None:
    head = train_head([LABELS[0]], model)
    near, far = head.predict(["please refund my order", "the weather is nice"])
    assert (near.label, far.label) == ("refund", "refund")
    assert near.confidence > far.confidence
    assert decide(far, 0.5)[0] == OTHER


def test_labels_without_any_word_fall_back_to_semantic_only(model: MiniLMEmbedder) -> None:
    head = train_head([LabelSpec("😀", "", ("😀😀",)), LabelSpec("😢", "", ("😢😢",))], model)
    assert head.vectorizer is None
    assert len(head.predict(["😀"])) == 1


def test_empty_batch(head: LabelHead) -> None:
    assert head.predict([]) == []


@pytest.mark.parametrize(
    ("labels", "message"),
    [([], "at least one label"), ([LabelSpec("a"), LabelSpec("a")], "unique")],
)
def test_bad_label_sets(model: MiniLMEmbedder, labels: list[LabelSpec], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train_head(labels, model)


def test_training_set_adds_descriptions_and_names() -> None:
    texts, names = training_set([LabelSpec("b_x", "desc b", ("e1", "e1")), LabelSpec("a")], label_texts=True)
    assert list(zip(texts, names, strict=True)) == [
        ("a", "a"),
        ("e1", "b_x"),
        ("desc b", "b_x"),
        ("b x", "b_x"),
    ]
    texts, names = training_set(
        [LabelSpec("b", "desc", ("e1",)), LabelSpec("c", "only desc")], label_texts=False
    )
    assert texts == ["e1", "only desc", "c"]  # a label without examples keeps its texts anyway


def test_humanize() -> None:
    assert humanize("card_arrival") == "card arrival"
    assert humanize("adding-pages") == "adding pages"
    assert humanize("  x__y ") == "x y"
