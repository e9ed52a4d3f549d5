// The tutorial's consumer: lists web_log's partitions, consumes every one of them concurrently
// from the newest offset and prints each message.
//
// Changed from the tutorial only where noted: config.Version (the embedded broker needs it),
// flags whose defaults are the tutorial's hard-coded values, and a line saying that every
// partition consumer has started (so a script knows when to begin producing).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/Shopify/sarama"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated broker addresses")
	topic := flag.String("topic", "web_log", "topic to read")
	flag.Parse()

	config := sarama.NewConfig()
	// sarama's default protocol version (0.8.2) asks for the newest offset with ListOffsets v0,
	// whose reply from `streamline broker` (Tansu 0.6.0) lacks the offsets list, and fetches
	// legacy message sets. 0.11 uses ListOffsets v1 and record batches. Real Kafka accepts either.
	config.Version = sarama.V0_11_0_0

	consumer, err := sarama.NewConsumer(strings.Split(*brokers, ","), config)
	if err != nil {
		fmt.Printf("fail to start consumer, err:%v\n", err)
		os.Exit(1)
	}
	partitionList, err := consumer.Partitions(*topic) // every partition of the topic
	if err != nil {
		fmt.Printf("fail to get list of partition:err%v\n", err)
		os.Exit(1)
	}
	fmt.Println(partitionList)

	var wg sync.WaitGroup
	for _, partition := range partitionList {
		// One partition consumer per partition, starting at the newest offset.
		pc, err := consumer.ConsumePartition(*topic, partition, sarama.OffsetNewest)
		if err != nil {
			fmt.Printf("failed to start consumer for partition %d,err:%v\n", partition, err)
			os.Exit(1)
		}
		defer pc.AsyncClose()
		wg.Add(1)
		go func(pc sarama.PartitionConsumer) { // consume every partition concurrently
			defer wg.Done()
			for msg := range pc.Messages() {
				fmt.Printf("Partition:%d Offset:%d Key:%s Value:%s\n", msg.Partition, msg.Offset, msg.Key, msg.Value)
			}
		}(pc)
	}
	fmt.Printf("consuming %d partitions from the newest offset\n", len(partitionList))
	wg.Wait()
}
