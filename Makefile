.PHONY: up test lint bench
up:
	./dev up
test:
	./dev test
lint:
	./dev lint
bench:
	./dev bench
