.PHONY: up test lint bench soak
up:
	./dev up
test:
	./dev test
lint:
	./dev lint
bench:
	./dev bench
soak:  # not in CI: 30 minutes by default (SOAK_MINUTES=N, SOAK_ARGS="--bus kafka --out r.json")
	./dev soak $(SOAK_ARGS)
