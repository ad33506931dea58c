# Bring-up 4 (MaixPy / CanMV, K210): blink the RGB LED red, green, blue.
# MAIX Dock: LED_R=IO14, LED_G=IO13, LED_B=IO12, active low (0 lights it).
import utime
from fpioa_manager import fm
from board import board_info

# GPIO lives in Maix on MaixPy and in maix on CanMV.
try:
    from Maix import GPIO
except ImportError:
    from maix import GPIO

# Map the three pads to high-speed GPIOs 8, 9, 10.
fm.register(board_info.LED_R, fm.fpioa.GPIOHS8, force=True)
fm.register(board_info.LED_G, fm.fpioa.GPIOHS9, force=True)
fm.register(board_info.LED_B, fm.fpioa.GPIOHS10, force=True)

# Outputs, all off (high = off on the active-low Dock LED).
leds = [GPIO(GPIO.GPIOHS8, GPIO.OUT), GPIO(GPIO.GPIOHS9, GPIO.OUT), GPIO(GPIO.GPIOHS10, GPIO.OUT)]
for led in leds:
    led.value(1)

while True:
    # Each colour on for half a second, then off.
    for led in leds:
        led.value(0)
        utime.sleep_ms(500)
        led.value(1)
