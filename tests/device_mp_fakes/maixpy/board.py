class board_info:
    LED_R = 14
    LED_G = 13
    LED_B = 12
