"""Everything that speaks to the broker: the paho client (mqtt) and the Mosquitto we run or
configure (broker)."""
