"""The processor tests' private Mosquitto and processor, for alarms raised end to end."""

from tests.processor.conftest import broker, processor, processor_settings

__all__ = ["broker", "processor", "processor_settings"]
