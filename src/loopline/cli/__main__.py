from loopline.cli.main import main

# guarded: a worker process started with multiprocessing's "spawn" (the writer's, see
# loopline/ingest/writer/offload.py) imports this module as `__mp_main__`, and must not run the CLI
if __name__ == "__main__":
    main()
