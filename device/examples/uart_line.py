# Bring-up 3 (MaixPy / CanMV, K210): one text line per second on the USB serial port.
# Watch it with `picoface monitor --port PORT` or any terminal at 115200 8N1.
import utime
from machine import UART

# The REPL port (UARTHS through the CH340 on the Dock), 115200 8N1.
uart = UART.repl_uart()

# A counter so lost lines are visible on the host.
n = 0

while True:
    # One line, ending in CRLF like the REPL.
    uart.write("hello %d t=%d\r\n" % (n, utime.ticks_ms()))
    n += 1

    # Wait a second.
    utime.sleep_ms(1000)
