// The tutorial's producer: one message to web_log through a sarama SyncProducer that waits for
// every in-sync replica, on a random partition; prints where it landed.
//
// Changed from the tutorial only where noted: config.Version (the embedded broker needs it) and
// flags whose defaults are the tutorial's hard-coded values (so tests can point it elsewhere).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/Shopify/sarama"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated broker addresses")
	topic := flag.String("topic", "web_log", "topic to write to")
	value := flag.String("value", "this is a test log", "message value")
	key := flag.String("key", "", "message key (none when empty)")
	partitioner := flag.String("partitioner", "random", "random (the tutorial's) or hash (sarama's default, FNV-1a)")
	flag.Parse()

	config := sarama.NewConfig()
	// sarama's default protocol version (0.8.2) produces with Produce v0-v2 (legacy message
	// sets), which `streamline broker` (Tansu 0.6.0) advertises but answers by closing the
	// connection. 0.11 switches to record batches (Produce v3). Real Kafka accepts either.
	config.Version = sarama.V0_11_0_0
	config.Producer.RequiredAcks = sarama.WaitForAll // the leader and every in-sync replica confirm
	config.Producer.Partitioner = sarama.NewRandomPartitioner
	if *partitioner == "hash" {
		config.Producer.Partitioner = sarama.NewHashPartitioner
	}
	config.Producer.Return.Successes = true // delivered messages come back on the Successes channel

	msg := &sarama.ProducerMessage{}
	msg.Topic = *topic
	msg.Value = sarama.StringEncoder(*value)
	if *key != "" {
		msg.Key = sarama.StringEncoder(*key)
	}

	client, err := sarama.NewSyncProducer(strings.Split(*brokers, ","), config)
	if err != nil {
		fmt.Println("producer closed, err:", err)
		os.Exit(1)
	}
	defer client.Close()

	pid, offset, err := client.SendMessage(msg)
	if err != nil {
		fmt.Println("send msg failed, err:", err)
		os.Exit(1)
	}
	fmt.Printf("pid:%v offset:%v\n", pid, offset)
}
