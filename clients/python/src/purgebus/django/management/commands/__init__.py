"""Management commands of purgebus: purgebus_purge and purgebus_results."""
