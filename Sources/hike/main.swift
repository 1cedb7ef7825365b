print("hike")
