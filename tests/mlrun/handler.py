"""The code the MLRun driver embeds in its functions."""


def train(context, epochs: int = 1):  # noqa: ANN001, ANN201
    return epochs


def handler(context, event):  # noqa: ANN001, ANN201
    return "ok"


def double(x):  # noqa: ANN001, ANN201
    return x * 2
