"""Jobs: a database row, a run folder and a process; one transition function moves them between states."""
