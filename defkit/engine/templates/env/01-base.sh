#!/bin/sh
# defkit: base environment of the container, sourced first by every action. Intentionally empty.
