"""The one error type of the dataset package (its own module so that every other module can import it)."""


class DatasetError(RuntimeError):
    """The dataset on disk or a value given to the writer is unusable; the message says what."""
