"""Admin: create, list, describe, delete."""

import uuid

import pytest

from streamline import Admin, TopicError


async def test_topic_lifecycle(kafka_bootstrap) -> None:
    name = f"admin-{uuid.uuid4().hex[:8]}"
    async with Admin(kafka_bootstrap) as admin:
        await admin.create_topic(name, partitions=3)
        assert name in await admin.list_topics()
        info = await admin.describe_topic(name)
        assert info.name == name and [p.partition for p in info.partitions] == [0, 1, 2]
        assert info.replication_factor == 1 and all(p.leader >= 0 for p in info.partitions)
        with pytest.raises(TopicError, match="cannot create topic"):
            await admin.create_topic(name, partitions=3)
        await admin.create_topic(name, partitions=3, exist_ok=True)
        await admin.delete_topic(name)
        assert name not in await admin.list_topics()
        with pytest.raises(TopicError, match="does not exist"):
            await admin.delete_topic(name)
        with pytest.raises(TopicError, match="does not exist"):
            await admin.describe_topic(name)
        assert not await admin.topic_exists(name)  # asking did not create it
