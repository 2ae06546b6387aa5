"""The code the MLRun driver embeds in its functions."""


def train(context, epochs: int = 1):
    return epochs


def handler(context, event):
    return "ok"


def double(x):
    return x * 2
