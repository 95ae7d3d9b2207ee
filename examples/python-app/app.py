print("Hello from Docker!")
