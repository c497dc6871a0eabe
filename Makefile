# Thin aliases for ./assessor, the entry point (which needs only sh and Python 3.11).
.PHONY: run test lint install
run:
	./assessor run
test:
	./assessor test
lint:
	./assessor lint
install:
	./assessor install
