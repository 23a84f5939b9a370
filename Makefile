# The two commands: `make run` starts the whole system on its embedded
# default; `make test` runs every test (with the race detector where a C
# compiler makes it available). .ci/run calls `make test`.

RACE := $(shell [ "$$(go env CGO_ENABLED)" = 1 ] && echo -race)

.PHONY: run test bench build image kafka-up kafka-down kafka-jars

run:
	go run ./cmd/chatbus run

test:
	go vet ./...
	go test $(RACE) -count=1 -timeout 30m ./...

bench:
	go test -run '^$$' -bench . -benchtime 3s ./...

build:
	CGO_ENABLED=0 go build -o chatbus ./cmd/chatbus

# The container image (Dockerfile; docs/deploy.md). IMAGE=name:tag to rename.
IMAGE ?= chatbus:latest
image:
	docker build -t $(IMAGE) .

# A local Apache Kafka cluster (KRaft, three brokers on free loopback ports;
# the jars from kafka/pom.xml, resolved by Maven into ~/.cache on first use;
# Java 17 and Maven needed). kafka-up prints the bootstrap servers, for
# `chatbus run --brokers …`; data and logs in KAFKA_DIR.
KAFKA_DIR ?= data/kafka-cluster
kafka-up:
	@go run ./cmd/kafkacluster up -dir $(KAFKA_DIR)

kafka-down:
	@go run ./cmd/kafkacluster down -dir $(KAFKA_DIR)

kafka-jars:
	@go run ./cmd/kafkacluster jars
