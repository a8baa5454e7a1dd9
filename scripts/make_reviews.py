"""A generated stand-in for a movie-review sentiment set, written with ``save_to_disk`` for
``data=hf``: no download.

Each review is two to eight sentences: plot summary that says nothing of the verdict, opinions
on parts of the film (direction, cast, script, music...) that mostly agree with the label and
sometimes not ("the score was lovely, but the film drags"), negated opinions ("the cast was not
bad"), and now and then a long digression, so about one review in ten runs past 128 tokens.
3% of the labels are flipped, as in hand-labelled sets.

    python scripts/make_reviews.py OUT_DIR [--train 4000] [--test 1000] [--seed 0]
    gauntlet train data=hf data.path=OUT_DIR data.max_length=128 model=rnn
"""

from __future__ import annotations

import argparse
import random

GOOD = [
    "great",
    "superb",
    "lovely",
    "moving",
    "wonderful",
    "brilliant",
    "gripping",
    "charming",
    "clever",
    "delightful",
    "touching",
    "beautiful",
    "sharp",
    "fresh",
    "stunning",
    "memorable",
    "witty",
    "tender",
    "powerful",
    "assured",
]
BAD = [
    "awful",
    "dull",
    "clumsy",
    "tedious",
    "boring",
    "dreadful",
    "flat",
    "lifeless",
    "weak",
    "messy",
    "bland",
    "forgettable",
    "silly",
    "shallow",
    "confused",
    "lazy",
    "painful",
    "wooden",
    "predictable",
    "overlong",
]
PARTS = [
    "direction",
    "cast",
    "script",
    "score",
    "camera work",
    "editing",
    "dialogue",
    "pacing",
    "lead",
    "ending",
    "story",
    "soundtrack",
    "humour",
    "plot",
    "villain",
]
VERDICT_GOOD = [
    "i would watch it again",
    "easily one of the best films this year",
    "go and see it",
    "it stays with you for days",
    "worth every minute",
    "a real pleasure from start to finish",
]
VERDICT_BAD = [
    "i would not watch it again",
    "one of the worst films this year",
    "save your money",
    "i forgot it by the next morning",
    "a waste of two hours",
    "i left before the end",
]
NAMES = [
    "anna",
    "tom",
    "the detective",
    "a young doctor",
    "two brothers",
    "the old captain",
    "a teacher",
    "the mayor",
    "her sister",
    "a stranger",
    "the band",
    "a lonely pilot",
]
PLACES = [
    "a small town",
    "paris",
    "the desert",
    "a ship",
    "new york",
    "a farm",
    "the moon",
    "a hospital",
    "the mountains",
    "an old hotel",
    "the city",
    "a prison",
]
EVENTS = [
    "falls in love",
    "loses everything",
    "returns home",
    "solves a murder",
    "starts a business",
    "runs away",
    "finds a letter",
    "plans a robbery",
    "meets an old friend",
    "fights the war",
    "tries to escape",
    "keeps a secret",
]
FILLER = [
    "the",
    "film",
    "was",
    "shot",
    "over",
    "two",
    "summers",
    "and",
    "the",
    "studio",
    "changed",
    "its",
    "title",
    "twice",
    "before",
    "release",
    "while",
    "the",
    "director",
    "also",
    "wrote",
    "the",
    "book",
    "it",
    "is",
    "based",
    "on",
    "and",
    "some",
    "scenes",
    "were",
    "filmed",
    "in",
    "the",
    "real",
    "places",
    "where",
    "the",
    "story",
    "happened",
    "years",
    "ago",
]


def opinion(rng: random.Random, positive: bool) -> str:
    part = rng.choice(PARTS)
    if rng.random() < 0.15:  # a negated opinion of the other polarity
        word = rng.choice(BAD if positive else GOOD)
        return rng.choice([f"the {part} was not {word}", f"the {part} is never {word}"])
    word = rng.choice(GOOD if positive else BAD)
    return rng.choice(
        [
            f"the {part} was {word}",
            f"a {word} {part}",
            f"i found the {part} {word}",
            f"the {part} is {word} and {rng.choice(GOOD if positive else BAD)}",
        ]
    )


def plot(rng: random.Random) -> str:
    return f"{rng.choice(NAMES)} {rng.choice(EVENTS)} in {rng.choice(PLACES)}" + (
        f" and {rng.choice(NAMES)} {rng.choice(EVENTS)}" if rng.random() < 0.4 else ""
    )


def review(rng: random.Random, label: int) -> str:
    positive = bool(label)
    sentences = [plot(rng)] if rng.random() < 0.7 else []
    for _ in range(rng.randint(1, 4)):
        # most opinions agree with the verdict; one in five does not
        sentences.append(opinion(rng, positive if rng.random() < 0.8 else not positive))
    if rng.random() < 0.5:
        sentences.append(plot(rng))
    rng.shuffle(sentences)
    if rng.random() < 0.1:  # a long digression before the verdict
        sentences.append(" ".join(rng.choices(FILLER, k=rng.randint(80, 160))))
    if rng.random() < 0.6:
        sentences.append(rng.choice(VERDICT_GOOD if positive else VERDICT_BAD))
    return " . ".join(sentences) + " ."


def make(n: int, seed: int) -> dict[str, list]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        texts.append(review(rng, label))
        labels.append(label if rng.random() >= 0.03 else 1 - label)
    return {"text": texts, "label": labels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    splits = {"train": make(args.train, args.seed), "test": make(args.test, args.seed + 1)}
    DatasetDict(
        {name: Dataset.from_dict(cols, features=features) for name, cols in splits.items()}
    ).save_to_disk(args.out)


if __name__ == "__main__":
    main()
