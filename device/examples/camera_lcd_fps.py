# Bring-up 1 (MaixPy / CanMV, K210): camera -> LCD, print frames per second.
# Copy to the board and run it alone; the app (main.py) never imports it.
import sensor
import lcd
import utime

# Start the LCD (320x240 on the MAIX Dock).
lcd.init()

# Reset the camera: RGB565 colour, QVGA 320x240.
sensor.reset()
sensor.set_pixformat(sensor.RGB565)
sensor.set_framesize(sensor.QVGA)

# Let exposure and white balance settle, then start streaming.
sensor.skip_frames(30)
sensor.run(1)

# Count frames over one-second windows.
frames = 0
start = utime.ticks_ms()
fps = 0.0

while True:
    # Grab a frame (its AI buffer is filled too, ready for the KPU).
    img = sensor.snapshot()

    # Write the last fps figure on the frame and show it.
    img.draw_string(4, 4, "%.1f fps" % fps, color=(255, 255, 255), scale=2)
    lcd.display(img)

    # Every second: print and reset the counter.
    frames += 1
    elapsed = utime.ticks_diff(utime.ticks_ms(), start)
    if elapsed >= 1000:
        fps = frames * 1000.0 / elapsed
        print("camera+lcd: %.1f fps" % fps)
        frames = 0
        start = utime.ticks_ms()
